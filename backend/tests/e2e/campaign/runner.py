"""The campaign's rig and referee: the service, its fakes, and the invariants after each step.

:func:`open_campaign` starts the fake AsterDEX (rebased to now), the fake OpenRouter, a TCP
proxy in front of PostgreSQL and the service (live mode, as a subprocess), and yields a
:class:`Campaign`. After every step :meth:`Campaign.settle` waits for the exchange to serve
again, gives the service a few seconds to protect every position on its own (no cycle is
asked for meanwhile), then judges the invariants against the fake's records; when the step's
own cycle failed, or the journal lags the exchange, one plain cycle (what the service's own
schedule would run next) comes first. ``tests.e2e.campaign.report`` turns it into the JSON
summary line and the failure report.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.campaign.api import ServiceApi
from tests.e2e.campaign.invariants import (
    duplicate_orders,
    journal_mismatches,
    lost_fills,
    position_mismatches,
)
from tests.e2e.campaign.llm import DecisionDesk
from tests.e2e.campaign.monitor import AgentWatcher, Excuses, ProtectionMonitor
from tests.e2e.campaign.service import ServiceProcess
from tests.e2e.campaign.trader import ManualTrader
from tests.e2e.conftest import clean_env
from tests.fakes.asterdex import FakeAccount, FakeAsterdex
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter
from tests.fakes.tcp_proxy import TcpProxy

ASSETS = ("BTC", "ETH", "SOL")
API_KEY, API_SECRET = "campaign-api-key", "campaign-api-secret"
API_TOKEN = "campaign-full-access-token-0123456789"  # 32+: ENVIRONMENT=test
POSTGRES = ("127.0.0.1", 5432)
EXCHANGE_BACK_S = 20.0  # longest wait for injected refusals to end
PROTECT_WAIT_S = 8.0  # how long the service gets to protect positions without a cycle
SETTLE_CYCLE_S = 45.0  # how long a plain cycle may keep failing after a step
CONSISTENT_S = 5.0  # how long the journal may lag the exchange after a good cycle
QUICK_LOOK_S = 1.0  # how long a step's own cycle gets before a plain cycle follows it
# The service spends at most 2200 of the 2400 request weight a minute on reads (it keeps 200
# for orders); a step starts only when what it needs still fits.
WEIGHT_BUDGET = 2100
STEP_WEIGHT = 250  # a cycle with faults and a plain cycle after it (measured: 65-230)
POLL_S = 0.1


def symbol_of(asset: str) -> str:
    """``BTC`` -> ``BTCUSDT``."""
    return f"{asset}USDT"


def service_env(fake: FakeAsterdex, router: FakeOpenRouter, database_url: str) -> dict[str, str]:
    """The service's whole environment: live on the fake, churn guards off, no hot reload."""
    return clean_env(
        TRADING_MODE="live",
        ENVIRONMENT="test",
        ASTERDEX_API_KEY=API_KEY,
        ASTERDEX_API_SECRET=API_SECRET,
        ASTERDEX_BASE_URL=fake.base_url,
        ASTERDEX_WS_URL=fake.ws_url,
        OPENROUTER_API_KEY=DEFAULT_API_KEY,
        OPENROUTER_BASE_URL=router.base_url,
        API_TOKEN=API_TOKEN,
        DATABASE_URL=database_url,
        ASSETS=",".join(ASSETS),
        LEVERAGE="3",
        MAX_POSITION_SIZE_USD="8000",
        MAX_TOTAL_EXPOSURE_USD="20000",
        ALLOW_PYRAMIDING="true",
        MIN_HOLD_BARS="0",
        STOP_COOLDOWN_BARS="0",
        MAX_DAILY_LOSS_PCT="50",
        # Moving the market through a stop puts the mark far from the last close.
        MAX_MARK_DEVIATION_PCT="50",
        BACKFILL_BARS="50",
        CONFIG_WATCH_ENABLED="false",
        LOG_LEVEL="INFO",
    )


async def poll(check: Callable[[], bool], budget_s: float) -> bool:
    """Poll ``check`` every :data:`POLL_S` until it is true or ``budget_s`` passed."""
    deadline = time.monotonic() + budget_s
    while not check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


@dataclass
class Findings:
    """What the referee saw, each problem keyed once with the step that first showed it."""

    duplicates: dict[str, str] = field(default_factory=dict)
    missing_fills: dict[str, str] = field(default_factory=dict)
    mismatches: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: dict[str, str], key: str, step: str, evidence: str) -> None:
        """Keep the first sighting of ``key``."""
        kind.setdefault(key, f"{step}: {evidence}")


@dataclass
class StepRecord:
    """How one step went, for the failure report."""

    label: str
    seconds: float
    cycles: list[str]
    fault_hits: int
    orders: list[str]
    weight: int


class Campaign:
    """The running rig (see the module docstring); steps act on its attributes."""

    def __init__(
        self,
        fake: FakeAsterdex,
        router: FakeOpenRouter,
        proxy: TcpProxy,
        service: ServiceProcess,
        trader: ManualTrader,
    ) -> None:
        self.fake = fake
        self.account: FakeAccount = fake.account(API_KEY)
        self.desk = DecisionDesk(router, ASSETS)
        self.proxy = proxy
        self.service = service
        self.trader = trader
        self.step = "startup"
        self.api = ServiceApi(API_TOKEN, lambda: service.base_url, lambda: self.step)
        self.monitor = ProtectionMonitor(fake, API_KEY, Excuses(fake, service), lambda: self.step)
        self.watcher = AgentWatcher(self.api, service, lambda: self.step)
        self.findings = Findings()
        self.records: list[StepRecord] = []
        self.cycles: Counter[str] = Counter()
        self.kills = 0
        self.db_outages = 0
        self.stream_outages = 0
        self.faults_injected = 0
        self.faults_armed = False
        self.faults_unused = 0
        self.paced = 0
        self.paced_s = 0.0
        self.final_missing: set[str] | None = None
        self._api_positions_due = True
        self.quick_look_failures: list[str] = []
        self._last_compare = ""
        self._step_cycles: list[str] = []
        self._started = time.monotonic()

    # -- actions the steps share ------------------------------------------------------------

    async def cycle(self, timeout_s: float = 40.0) -> int | None:
        """``POST .../agent/cycle``; the status (None: no answer), counted for the summary."""
        response = await self.api.cycle(timeout_s)
        status = None if response is None else response.status_code
        self.cycles[str(status)] += 1
        self._step_cycles.append(str(status))
        return status

    async def kill(self) -> None:
        """SIGKILL the service."""
        await self.service.kill()
        self.kills += 1

    async def restart(self) -> None:
        """Start the next life of the service (the database must be reachable)."""
        await self.service.start()
        self._step_cycles.append("restart")  # the step's cycle was another life's
        self._api_positions_due = True

    async def db_outage(self, seconds: float) -> None:
        """Cut the database for ``seconds``, reading the API all along (500s are counted)."""
        self.db_outages += 1
        await self.proxy.cut()
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                await self.api.read_everything()
                await asyncio.sleep(0.2)
        finally:
            await self.proxy.restore()

    def positions(self) -> dict[str, Any]:
        """The fake's open positions (symbol -> FakePosition)."""
        return {s: p for s, p in self.account.positions.items() if p.amount != 0}

    # -- after every step -------------------------------------------------------------------

    async def run_step(
        self, label: str, action: Callable[[], Awaitable[None]], weight: int = STEP_WEIGHT
    ) -> None:
        """Run one step's action (which needs about ``weight`` request weight), then settle."""
        await self._pace(weight)
        self.step, self._step_cycles = label, []
        self.desk.withdraw()
        hits, orders, started = (
            len(self.fake.fault_hits),
            len(self.account.orders),
            time.monotonic(),
        )
        weight = self.total_weight()
        await action()
        await self.settle()
        self.fake.refuse_user_streams(False)
        if self.faults_armed and len(self.fake.fault_hits) == hits:
            self.faults_unused += 1
            legs = await self.api.last_decision_legs()
            self.findings.notes.append(f"{label}: the fault never acted; last decision {legs}")
        self.faults_armed = False
        self.records.append(
            StepRecord(
                label,
                time.monotonic() - started,
                self._step_cycles,
                len(self.fake.fault_hits) - hits,
                [f"{o.client_order_id} {o.type} {o.status}" for o in self.account.orders[orders:]],
                self.total_weight() - weight,
            )
        )

    async def _pace(self, weight: int) -> None:
        """Start a step only with the request weight it needs left in this clock minute.

        The campaign runs a cycle every few seconds where the service would run one an hour;
        without pacing it spends the account's weight budget and its reads are refused
        (by the service's own budget) until the next minute, which no step is about.
        """
        if self._used_weight() + weight <= WEIGHT_BUDGET:
            return
        self.paced += 1
        started = time.monotonic()
        ok = await poll(lambda: self._used_weight() + weight <= WEIGHT_BUDGET, 61.0)
        self.paced_s += time.monotonic() - started
        if not ok:
            self.findings.notes.append(f"after {self.step}: weight still used up after a minute")

    def total_weight(self) -> int:
        """Request weight the fake has counted since it started (all minutes)."""
        total, used = 0, dict[int, int]()
        for request in self.fake.requests:
            header = request.response_headers.get("X-MBX-USED-WEIGHT-1M")
            if header is not None:
                minute = request.time_ms // 60_000
                total += int(header) - used.get(minute, 0)
                used[minute] = int(header)
        return total

    def _used_weight(self) -> int:
        """Weight the fake has counted in the current clock minute."""
        for request in reversed(self.fake.requests):
            header = request.response_headers.get("X-MBX-USED-WEIGHT-1M")
            if header is not None:
                same_minute = request.time_ms // 60_000 == self.fake.server_time_ms() // 60_000
                return int(header) if same_minute else 0
        return 0

    async def settle(self) -> None:
        """Exchange back, protection given time, then the invariants.

        When the step's own cycle did not succeed, or the journal does not agree with the
        exchange at once, one plain cycle (what the service's schedule runs next) comes
        before the invariants are judged.
        """
        self.service.check_alive()
        await self._exchange_back()
        self.fake.clear_faults()
        self.desk.withdraw()
        await poll(lambda: not self.monitor.sample(), PROTECT_WAIT_S)
        if self._step_cycles[-1:] != ["200"]:
            await self._good_cycle()
        if not await self.judge(record=False, budget_s=QUICK_LOOK_S):
            self.quick_look_failures.append(f"{self.step}: {self._last_compare}")
            await self._good_cycle()
            await self.judge()
        self.service.check_alive()

    async def _exchange_back(self) -> None:
        def back() -> bool:
            until = max((hit.until_ms for hit in self.fake.fault_hits), default=0)
            return self.fake.server_time_ms() >= until

        if not await poll(back, EXCHANGE_BACK_S):
            self.findings.notes.append(f"{self.step}: injected refusals outlasted the wait")

    async def _good_cycle(self) -> None:
        deadline = time.monotonic() + SETTLE_CYCLE_S
        while time.monotonic() < deadline:
            if await self.cycle() == 200:
                return
            await asyncio.sleep(1.0)
        self.findings.notes.append(f"{self.step}: no cycle succeeded within {SETTLE_CYCLE_S} s")

    async def judge(
        self, *, record: bool = True, final: bool = False, budget_s: float = CONSISTENT_S
    ) -> bool:
        """Check invariants (a), (c), (d), waiting up to ``budget_s`` for them to hold.

        Returns whether they hold; with ``record`` what does not is kept as a finding.
        """
        label = "end of campaign" if final else self.step
        for key, evidence in duplicate_orders(self.account).items():
            self.findings.add(self.findings.duplicates, key, label, evidence)
        deadline = time.monotonic() + budget_s
        missing: dict[str, str] = {}
        wrong: list[str] = []
        while True:
            with_api = final or (record and self._api_positions_due)
            missing, wrong, readable = await self._compare(with_api)
            self._last_compare = (
                f"missing {list(missing.values())}, wrong {wrong}" if readable else "unreadable"
            )
            if readable and not missing and not wrong:
                break
            if time.monotonic() >= deadline:
                if not readable and record:
                    self.findings.notes.append(f"{label}: fills/positions unreadable")
                break
            await asyncio.sleep(0.25)
        if record:
            for trade, evidence in missing.items():
                self.findings.add(self.findings.missing_fills, trade, label, evidence)
            for line in wrong:
                self.findings.add(self.findings.mismatches, line.split(":")[0], label, line)
        if final:
            self.final_missing = set(missing)
        if record and not missing and not wrong:
            self._api_positions_due = False
        return not missing and not wrong

    async def _compare(self, with_api: bool) -> tuple[dict[str, str], list[str], bool]:
        """Missing fills and position mismatches now.

        The journal is judged at every step; ``GET .../positions`` (the exchange's view
        through the service: 50 request weight per read) after restarts and at the end.
        """
        fills = await self.api.fills()
        if fills is None:
            return {}, [], False
        missing = lost_fills(self.account, fills)
        if missing:
            return missing, [], True
        wrong = [f"journal {x}" for x in journal_mismatches(self.account, fills)]
        if with_api:
            items = await self.api.positions()
            if items is None:
                return {}, wrong, False
            wrong += [f"API {x}" for x in position_mismatches(self.account, items)]
        return {}, wrong, True

    def elapsed_s(self) -> float:
        """Seconds since the rig was built."""
        return time.monotonic() - self._started

    async def loop_deaths(self) -> list[str]:
        """Every report of a dead loop: the watcher's, and ``agent.stopped`` events."""
        deaths = [f"{d.step}: life {d.life} {d.state}: {d.detail}" for d in self.watcher.deaths]
        status = await self.watcher.look()
        if status is not None and status.get("state") != "running" and not self.watcher.deaths:
            deaths.append(f"end of campaign: {status.get('state')}: {status.get('detail')}")
        events = await self.api.events("agent.stopped")
        if events is None:
            self.findings.notes.append("agent.stopped events unreadable at the end")
        for event in events or []:
            deaths.append(f"agent.stopped at {event.get('occurred_at')}: {event.get('message')}")
        return deaths


@asynccontextmanager
async def open_campaign(database_url: str, workdir: Path) -> AsyncIterator[Campaign]:
    """Start the fakes, the proxy and the service; stop and reap all of it afterwards."""
    async with (
        FakeAsterdex(rebase_to=datetime.now(UTC)) as fake,
        FakeOpenRouter() as router,
        TcpProxy(*POSTGRES) as proxy,
    ):
        fake.add_hmac_account(API_KEY, API_SECRET)
        env = service_env(fake, router, proxy.url_for(database_url))
        service = ServiceProcess(env, workdir, workdir / "service.log")
        trader = ManualTrader(fake.base_url, API_KEY, API_SECRET)
        campaign = Campaign(fake, router, proxy, service, trader)
        try:
            await service.start()
            campaign.monitor.start()
            campaign.watcher.start()
            yield campaign
        finally:
            await campaign.watcher.stop()
            await campaign.monitor.stop()
            await proxy.restore()  # the service's shutdown may still need its database
            await service.stop()
            await campaign.api.aclose()
            await trader.aclose()
            with contextlib.suppress(Exception):
                fake.clear_faults()
