"""Background observers: how long positions go unprotected, and whether the agent died.

:class:`ProtectionMonitor` reads the fake exchange's own state (in-process, no HTTP) every
~75 ms. A position is *protected* when a working STOP_MARKET on its exit side either closes
the position (``closePosition``) or is reduce-only for at least its size. Every stretch
without that is an :class:`Episode`; its *charged* time leaves out what the service could not
help: time the fake refused requests because of an injected fault or ban (each refusal
excuses until its ``until_ms``, plus a retry grace when the refusal lasts) and time the
service was dead (SIGKILL until healthy again: no process can arm a stop while it is not
running).

:class:`AgentWatcher` polls ``GET .../agent`` every 250 ms and keeps the first time each
service life reported its agent ``stopped`` or ``halted`` (nobody asks it to stop), and
every other state than ``running`` it saw (a standby, say).
"""

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from tests.e2e.campaign.api import ServiceApi
from tests.e2e.campaign.service import ServiceProcess, wall_ms
from tests.fakes.asterdex import FakeAccount, FakeAsterdex, FaultHit

POLL_S = 0.075
RETRY_GRACE_MS = 1_000
AGENT_POLL_S = 0.25


def protected(account: FakeAccount, symbol: str, amount: Decimal) -> bool:
    """Whether a working stop on the exit side covers the whole position."""
    exit_side = "SELL" if amount > 0 else "BUY"
    for order in account.open_orders(symbol):
        if order.type != "STOP_MARKET" or order.side != exit_side:
            continue
        if order.close_position or (order.reduce_only and order.remaining >= abs(amount)):
            return True
    return False


def unprotected_positions(account: FakeAccount) -> dict[str, Decimal]:
    """Symbol -> signed amount of every open position without a covering stop."""
    return {
        symbol: position.amount
        for symbol, position in account.positions.items()
        if position.amount != 0 and not protected(account, symbol, position.amount)
    }


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _refused_until(hit: FaultHit) -> int:
    """When the service could act again after ``hit``.

    A refusal that lasts (a ban, a Retry-After, a held answer) gets a retry grace on top: a
    client learns it is over only by trying again. A one-off refusal (a 5xx, a cut
    connection, a malformed answer) excuses nothing beyond the request itself.
    """
    if hit.until_ms > hit.time_ms:
        return hit.until_ms + RETRY_GRACE_MS
    return hit.until_ms


class _Background:
    """A watcher that runs its ``_run`` as a task between ``start()`` and ``stop()``."""

    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Begin watching in the background."""
        self._task = asyncio.create_task(self._run(), name=f"campaign-{type(self).__name__}")

    async def stop(self) -> None:
        """Stop watching (what was seen stays, open episodes measured up to now)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Excuses:
    """Stretches of time not charged to the service (see the module docstring)."""

    def __init__(self, fake: FakeAsterdex, service: ServiceProcess) -> None:
        self._fake = fake
        self._service = service

    def intervals(self, now_ms: int) -> list[tuple[int, int]]:
        """Merged ``(start_ms, end_ms)`` stretches known so far."""
        spans = [(hit.time_ms, _refused_until(hit)) for hit in self._fake.fault_hits]
        spans += [(d.start_ms, d.end_ms or now_ms) for d in self._service.downtime]
        return _merge(spans)

    def overlap_ms(self, start_ms: int, end_ms: int, now_ms: int) -> int:
        """How much of ``[start_ms, end_ms]`` is excused."""
        total = 0
        for low, high in self.intervals(now_ms):
            total += max(0, min(high, end_ms) - max(low, start_ms))
        return total


@dataclass
class Episode:
    """One stretch during which a position had no covering stop on the fake."""

    step: str
    symbol: str
    amount: Decimal
    start_ms: int
    end_ms: int | None = None
    open_orders: list[str] = field(default_factory=list)

    def charged_s(self, excuses: Excuses, now_ms: int) -> float:
        """Unprotected seconds charged to the service."""
        end = self.end_ms or now_ms
        return max(0, end - self.start_ms - excuses.overlap_ms(self.start_ms, end, now_ms)) / 1000


def describe_orders(account: FakeAccount, symbol: str) -> list[str]:
    """The symbol's working orders, for evidence."""
    return [
        f"{o.client_order_id} {o.side} {o.type} stop={o.stop_price} qty={o.orig_qty}"
        f"{' closePosition' if o.close_position else ''}{' reduceOnly' if o.reduce_only else ''}"
        for o in account.open_orders(symbol)
    ]


class ProtectionMonitor(_Background):
    """Samples the fake every :data:`POLL_S` and records unprotected episodes."""

    def __init__(
        self, fake: FakeAsterdex, api_key: str, excuses: Excuses, step: Callable[[], str]
    ) -> None:
        self._fake = fake
        self._key = api_key
        self.excuses = excuses
        self._step = step
        self._open: dict[str, Episode] = {}
        self.episodes: list[Episode] = []

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(POLL_S)

    def sample(self) -> dict[str, Decimal]:
        """Look once; returns the unprotected positions seen."""
        account = self._fake.account(self._key)
        now = wall_ms()
        naked = unprotected_positions(account)
        for symbol, episode in list(self._open.items()):
            # A flipped or resized position is a new episode only when it changes side.
            if symbol not in naked or (naked[symbol] > 0) != (episode.amount > 0):
                episode.end_ms = now
                del self._open[symbol]
        for symbol, amount in naked.items():
            if symbol not in self._open:
                episode = Episode(
                    self._step(), symbol, amount, now, None, describe_orders(account, symbol)
                )
                self._open[symbol] = episode
                self.episodes.append(episode)
        return naked

    def charged_now(self) -> dict[str, float]:
        """Charged seconds of every episode still open."""
        now = wall_ms()
        return {s: e.charged_s(self.excuses, now) for s, e in self._open.items()}

    def max_charged_s(self) -> float:
        """The longest charged episode so far."""
        now = wall_ms()
        return max((e.charged_s(self.excuses, now) for e in self.episodes), default=0.0)


@dataclass(frozen=True, slots=True)
class LoopDeath:
    """The agent reported stopped (or halted) by a service life."""

    step: str
    life: int
    state: str
    detail: str


class AgentWatcher(_Background):
    """Polls the agent's state while the service runs."""

    def __init__(self, api: ServiceApi, service: ServiceProcess, step: Callable[[], str]) -> None:
        self._api = api
        self._service = service
        self._step = step
        self.deaths: list[LoopDeath] = []
        self.not_running: dict[str, str] = {}
        """Every ``state: detail`` seen other than running, with the step that first saw it."""
        self._dead_lives: set[int] = set()
        self.last: dict[str, object] | None = None

    async def _run(self) -> None:
        while True:
            if self._service.running:
                await self.look()
            await asyncio.sleep(AGENT_POLL_S)

    async def look(self) -> dict[str, object] | None:
        """Read the agent's state once and remember a death."""
        life = self._service.lives
        status = await self._api.agent()
        if status is None or life != self._service.lives:
            return None  # unreachable, or a restart happened meanwhile
        self.last = status
        state = str(status.get("state"))
        if state != "running":
            self.not_running.setdefault(f"{state}: {status.get('detail')}", self._step())
        if state in ("stopped", "halted") and life not in self._dead_lives:
            self._dead_lives.add(life)
            self.deaths.append(LoopDeath(self._step(), life, state, str(status.get("detail"))))
        return status
