"""The agent supervisor: one named task per account, started and stopped with the service.

One account's failure (its exchange down, its LLM out of credits, a bug) never stops or
slows another: each loop runs in its own task, and a loop that dies is recorded as
``stopped`` with the reason.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from app.agent.failures import is_database_outage
from app.agent.locks import AccountLock, AccountLocks, LocalAccountLocks
from app.agent.loop import AgentLoop
from app.agent.ports import Journal
from app.core.clock import SystemClock
from app.core.errors import AppError
from app.core.secrets import redact
from app.core.types import AccountId, TradingMode

logger = logging.getLogger(__name__)
CONFIG_PAUSED = "paused by the configuration (AGENT_PAUSED)"
CYCLE_GRACE_S = 30.0
KILL_GRACE_S = 5.0


class UnknownAccount(AppError):
    """No account has that id."""

    status_code = 404
    code = "unknown_account"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"no account {account_id!r}")


class AgentUnavailable(AppError):
    """The request does not fit the agent's state."""

    status_code = 409
    code = "agent_unavailable"


DATABASE_RETRY_S = 1.0  # how often an account waiting for the database tries its lock again
_WAITING_FOR_DATABASE = "waiting for the database (account lock)"
_STANDBY = "standby: another replica trades this account"


class LockLost(Exception):
    """The account lock's connection died: this replica must stop trading the account."""


FINISHED: Final = "finished"
"""The detail of a loop that ran to the end of its window (a replay's recording)."""


class AgentState(StrEnum):
    """What one account's agent loop is doing."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A snapshot of one account's agent, for the API."""

    account_id: AccountId
    trading_mode: TradingMode
    state: AgentState
    detail: str


@dataclass(slots=True)
class ManagedAgent:
    """One account under supervision.

    Attributes:
        mode: The account's trading mode.
        loop: Its decision loop, or None when it cannot run (``detail`` says why).
        detail: Human-readable state detail.
        after_tick: Called after every cycle (e.g. to persist paper state).
        until: Stop after this time (the end of a replay).
        config_paused: The configuration pauses it (``AGENT_PAUSED``), not an operator.
    """

    mode: TradingMode
    loop: AgentLoop | None
    detail: str
    after_tick: Callable[[], Awaitable[None]] | None = None
    until: datetime | None = None
    task: asyncio.Task[None] | None = None
    held: "AgentState | None" = None
    config_paused: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class AgentSupervisor:
    """Owns the per-account agent tasks; safe to start and close more than once."""

    def __init__(
        self,
        agents: dict[AccountId, ManagedAgent],
        *,
        locks: AccountLocks | None = None,
        controls: Journal | None = None,
        standby_retry_s: float = 15.0,
        market_source: str = "none",
    ) -> None:
        self._agents = agents
        self.market_source = market_source
        """Where prices come from (live AsterDEX, or a replay: said in every status)."""
        self._locks = locks or LocalAccountLocks()
        self._controls = controls
        self._retry_s = standby_retry_s
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Start every runnable account's loop, except those an operator held.

        Paused, stopped and halted states are persisted, so a kill switch survives restarts.
        """
        self._stop.clear()
        for account_id, agent in self._agents.items():
            saved = await self._controls.control(account_id) if self._controls else None
            if saved is not None and saved[0] != AgentState.RUNNING:
                agent.held = AgentState(saved[0])
                agent.detail = f"{saved[0]} by an operator: {saved[1] or 'no reason given'}"
                continue
            if agent.config_paused:
                agent.held, agent.detail = AgentState.PAUSED, CONFIG_PAUSED
                continue
            self._spawn(account_id, agent)
        logger.info(
            "agent supervisor started: %s",
            ", ".join(f"{a} ({g.detail})" for a, g in self._agents.items()) or "no accounts",
        )

    def _spawn(self, account_id: AccountId, agent: ManagedAgent) -> None:
        if agent.loop is None or (agent.task is not None and not agent.task.done()):
            return
        agent.held = None
        agent.stop.clear()
        agent.task = asyncio.create_task(self._run(account_id, agent), name=f"agent:{account_id}")
        agent.detail = "running"

    def _agent(self, account_id: AccountId) -> ManagedAgent:
        if account_id not in self._agents:
            raise UnknownAccount(account_id)
        return self._agents[account_id]

    async def resume(self, account_id: AccountId) -> AgentStatus:
        """Start (or release the kill switch of) one account's agent."""
        agent = self._agent(account_id)
        if agent.loop is None:
            raise AgentUnavailable(agent.detail)
        await self._remember(account_id, AgentState.RUNNING, None)
        self._stop.clear()
        self._spawn(account_id, agent)
        return self._status(account_id, agent)

    async def hold(self, account_id: AccountId, state: AgentState, reason: str) -> AgentStatus:
        """Pause or stop one account's agent (persisted); positions keep their protection."""
        agent = self._agent(account_id)
        await self._cancel(agent)
        agent.held = state
        agent.detail = f"{state} by an operator: {reason}"
        await self._remember(account_id, state, reason)
        return self._status(account_id, agent)

    async def set_config_pause(self, account_id: AccountId, paused: bool) -> AgentStatus:
        """Apply ``AGENT_PAUSED`` (hot reload): pause, or resume what the configuration paused.

        Not persisted (the configuration is); an operator's own hold always wins.
        """
        agent = self._agent(account_id)
        agent.config_paused = paused
        if paused and agent.held is None:
            await self._cancel(agent)
            agent.held, agent.detail = AgentState.PAUSED, CONFIG_PAUSED
        elif not paused and agent.detail == CONFIG_PAUSED and not self._stop.is_set():
            self._spawn(account_id, agent)
        return self._status(account_id, agent)

    async def kill(self, account_id: AccountId, *, flatten: bool, reason: str) -> AgentStatus:
        """Kill switch: halt the loop, cancel open orders, optionally flatten; persisted."""
        agent = self._agent(account_id)
        await self._cancel(agent, KILL_GRACE_S)  # a kill switch must not wait for an LLM
        agent.held = AgentState.HALTED
        agent.detail = f"halted: {reason}"
        await self._remember(account_id, AgentState.HALTED, reason)
        if agent.loop is not None:
            await agent.loop.kill(flatten=flatten, reason=reason)
        return self._status(account_id, agent)

    async def kill_all(self, *, flatten: bool, reason: str) -> list[AgentStatus]:
        """The global kill switch."""
        return [await self.kill(a, flatten=flatten, reason=reason) for a in list(self._agents)]

    async def cycle(self, account_id: AccountId) -> AgentStatus:
        """Run one cycle now (refused while paused, stopped or halted)."""
        agent = self._agent(account_id)
        if agent.loop is None:
            raise AgentUnavailable(agent.detail)
        if agent.held is not None:
            raise AgentUnavailable(f"the agent is {agent.held}; start it first")
        await agent.loop.tick()
        return self._status(account_id, agent)

    def loop(self, account_id: AccountId) -> AgentLoop | None:
        """The account's loop (None when it cannot run).

        Raises:
            UnknownAccount: No such account.
        """
        return self._agent(account_id).loop

    def account_status(self, account_id: AccountId) -> AgentStatus:
        """One account's agent state."""
        return self._status(account_id, self._agent(account_id))

    async def _cancel(self, agent: ManagedAgent, grace_s: float = CYCLE_GRACE_S) -> None:
        """Stop the agent's task between cycles: a running cycle finishes first (bounded)."""
        task = agent.task
        if task is None:
            return
        await _stop_between_cycles(agent, task, grace_s)
        agent.task = None

    def _now(self, account_id: AccountId) -> datetime:
        """The account's clock (a replay's records carry replay time), else the wall clock."""
        agent = self._agents.get(account_id)
        return (agent.loop.clock if agent and agent.loop else SystemClock()).now()

    async def _remember(self, account_id: AccountId, state: AgentState, reason: str | None) -> None:
        if self._controls is not None:
            await self._controls.save_control(
                account_id, state.value, reason, at=self._now(account_id)
            )

    async def _run(self, account_id: AccountId, agent: ManagedAgent) -> None:
        assert agent.loop is not None  # only runnable agents get a task
        try:
            while not agent.stop.is_set():
                try:
                    lock = await self._locks.acquire(account_id)
                except Exception as exc:
                    if not is_database_outage(exc):
                        raise
                    # The lock lives in the database: wait for it, do not give the account up.
                    if agent.detail != _WAITING_FOR_DATABASE:
                        logger.warning("agent %s waits for the database: %s", account_id, exc)
                    agent.detail = _WAITING_FOR_DATABASE
                    await _pause(agent.stop, DATABASE_RETRY_S)
                    continue
                if lock is None:
                    if agent.detail != _STANDBY:  # once per standby, not once per retry
                        logger.warning(
                            "agent %s stands by: another instance holds its account lock"
                            " (retrying every %.0f s)",
                            account_id,
                            self._retry_s,
                        )
                    agent.detail = _STANDBY
                    await _pause(agent.stop, self._retry_s)
                    continue
                agent.detail = "running"
                try:
                    await agent.loop.run(
                        agent.stop, after_tick=self._after_tick(agent, lock), until=agent.until
                    )
                    agent.detail = FINISHED if agent.until else "stopped"
                    return
                except LockLost:
                    agent.detail = "standby: account lock lost"
                    logger.warning("agent %s lost its account lock; it stops trading", account_id)
                finally:
                    await lock.release()
        except asyncio.CancelledError:
            agent.detail = "stopped"
            raise
        except Exception as exc:  # one account must never take the others down
            # The loop retries everything retrying can fix; what reaches here cannot be
            # fixed by waiting (bad credentials, a bug): say so, in the status and the journal.
            logger.exception("agent %s stopped on an error retrying cannot fix", account_id)
            # Served by /status: an upstream error may repeat the key it was sent.
            agent.detail = redact(f"stopped on error: {exc.__class__.__name__}: {exc}")
            await self._report_stop(account_id, agent.detail)

    async def _report_stop(self, account_id: AccountId, detail: str) -> None:
        if self._controls is None:
            return
        try:
            await self._controls.event(
                account_id,
                "agent.stopped",
                f"the agent stopped and needs an operator: {detail}",
                at=self._now(account_id),
                severity="critical",
            )
        except Exception:  # the status still says it; the log has the cause
            logger.exception("agent %s: could not journal its stop", account_id)

    def _after_tick(self, agent: ManagedAgent, lock: AccountLock) -> Callable[[], Awaitable[None]]:
        async def after_tick() -> None:
            if agent.after_tick is not None:
                await agent.after_tick()
            if not await lock.alive():
                raise LockLost

        return after_tick

    def status(self) -> list[AgentStatus]:
        """The state of every account's agent, in configuration order."""
        return [self._status(account_id, agent) for account_id, agent in self._agents.items()]

    @staticmethod
    def _status(account_id: AccountId, agent: ManagedAgent) -> AgentStatus:
        return AgentStatus(account_id, agent.mode, _state(agent), agent.detail)

    async def aclose(self) -> None:
        """Stop every loop and wait for the tasks to end."""
        self._stop.set()
        running = [(a, a.task) for a in self._agents.values() if a.task is not None]
        await asyncio.gather(*(_stop_between_cycles(a, t) for a, t in running))
        for agent in self._agents.values():
            agent.task = None
        if running:
            logger.info("agent supervisor stopped")


async def _stop_between_cycles(
    agent: ManagedAgent, task: "asyncio.Task[None]", grace_s: float = CYCLE_GRACE_S
) -> None:
    """Ask the loop to stop after its current cycle; cancel it only after ``grace_s``.

    A cycle cut in the middle is safe (recovery resolves it), but letting it finish keeps
    the journal tidy and never cancels database work half-way.
    """
    agent.stop.set()
    _done, pending = await asyncio.wait({task}, timeout=grace_s)
    if pending:
        logger.warning("a cycle did not finish within %.0f s; cancelling it", grace_s)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less when ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return


def _state(agent: ManagedAgent) -> AgentState:
    if agent.held is not None:
        return agent.held
    if agent.task is None or agent.task.done():
        return AgentState.STOPPED
    return AgentState.PAUSED if agent.detail.startswith("standby") else AgentState.RUNNING
