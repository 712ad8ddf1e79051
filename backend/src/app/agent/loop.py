"""The agent loop of one account: closed candle -> decision -> risk -> orders -> journal.

The same code runs in live, paper and replay mode; only the ports differ. Before its first
cycle a loop recovers (:mod:`app.agent.recovery`). One :meth:`AgentLoop.tick`:

1. bring candles up to date and let a simulated exchange match stops on the new candles
   (:class:`~app.agent.feed.MarketFeed`);
2. record fills (a stop-loss fill starts the stop-out cool-down);
3. reconcile open orders with the exchange and guard every position's protection
   (:class:`~app.agent.guardian.Guardian`);
4. ask the data-quality gate; skip the cycle, with the reasons, when it says no;
5. close positions whose invalidation condition now holds;
6. roll the risk day (daily-loss halt), build the context, ask the provider;
7. judge every proposal with the risk engine and store the decision;
8. execute approved legs (:class:`~app.agent.execution.Executor`: intents journaled before
   sending, deterministic client ids, close-position stop and target on every entry);
9. snapshot equity and positions.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.agent import order_ids
from app.agent.execution import Executor, Thesis
from app.agent.failures import JournalBacklog, is_database_outage, is_transient
from app.agent.feed import MarketFeed
from app.agent.fills import FillRecorder
from app.agent.guardian import Guardian, GuardReport, UnmanagedPolicy
from app.agent.invalidations import close_invalidated
from app.agent.ports import Journal
from app.agent.recovery import fills_since, load_theses, record_recovery
from app.agent.schedule import next_close, retry_at, sleep_until
from app.agent.views import account_snapshot, decision_context, market_snapshots, remember
from app.core.clock import Clock
from app.core.types import interval_delta
from app.exchange.ports import AccountState, Exchange
from app.exchange.types import OrderType
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.context import HistoryItem
from app.llm.ports import DecisionProvider
from app.market_data.service import MarketDataService, last_closed_open
from app.trading.domain import RiskLimits
from app.trading.risk import evaluate, roll_day

logger = logging.getLogger(__name__)
# Client ids the exchange gives the orders it sends itself: liquidation and auto-deleverage
# on AsterDEX, liquidation on the paper exchange. Their fills have no order row of ours.
FEATURES = feature_names(IndicatorConfig())


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What one account's loop trades, and how."""

    account_id: str
    symbols: Mapping[str, str]  # asset -> symbol
    interval: str
    long_interval: str
    limits: RiskLimits
    grace: timedelta = timedelta(seconds=5)
    entry_type: OrderType = OrderType.MARKET
    unmanaged_policy: UnmanagedPolicy = "adopt"


@dataclass(slots=True)
class TickOutcome:
    """What one cycle did, for logs, tests and the API."""

    at: datetime
    skipped: str | None = None
    orders_sent: int = 0
    fills: int = 0
    closed_by_invalidation: list[str] = field(default_factory=list)


class AgentLoop:
    """One account's decision loop over its ports."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock,
        market: MarketDataService,
        exchange: Exchange,
        provider: DecisionProvider,
        journal: Journal,
    ) -> None:
        self._config = config
        self._clock = clock
        self._market = market
        self._exchange = exchange
        self._provider = provider
        self._journal = journal
        self._executor = Executor(
            config.account_id,
            exchange,
            journal,
            clock=clock,
            backlog=JournalBacklog(),
            entry_type=config.entry_type,
        )
        self._guardian = Guardian(
            config.account_id,
            exchange,
            journal,
            self._executor,
            max_stop_distance=config.limits.max_stop_distance,
            policy=config.unmanaged_policy,
        )
        self._next_config: AgentConfig | None = None
        self._theses: dict[str, Thesis] = {}
        self._history: list[HistoryItem] = []
        self._feed = MarketFeed(config.account_id, config.interval, market, exchange, journal)
        self._tick_lock = asyncio.Lock()
        self._restored = False
        self._fills = FillRecorder(
            config.account_id, exchange, journal, self._executor, clock.now()
        )
        self._decided_for: datetime | None = None

    @property
    def clock(self) -> Clock:
        """The loop's time source (every record it writes carries this clock's time)."""
        return self._clock

    @property
    def config(self) -> AgentConfig:
        """The loop's configuration."""
        return self._config

    async def run(
        self,
        stop: asyncio.Event,
        *,
        after_tick: Callable[[], Awaitable[None]] | None = None,
        until: datetime | None = None,
    ) -> None:
        """Tick at every candle close (plus grace) until ``stop`` is set or ``until`` passes.

        A cycle that fails on something retrying can fix (the exchange, the database; see
        :mod:`app.agent.failures`) is recorded and followed within seconds by a guard pass
        (fills, orders, protection), repeated with a short backoff until it succeeds; the
        candle's decision is retried too while none was recorded for it. Anything else
        propagates: it stops this account only (the supervisor records it).
        """
        failures = 0
        while not stop.is_set():
            if until is not None and self._clock.now() > until:
                logger.info("%s: reached the end of the data (%s)", self._config.account_id, until)
                return
            try:
                if failures:  # protection first, then the decision if it is still due
                    await self.guard_pass()
                if self._decision_due():
                    await self.tick()
                if after_tick is not None:  # e.g. the paper state's checkpoint: a write
                    await after_tick()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                failures += 1
                wake = await self._after_failure(exc, failures)
            else:
                failures = 0
                wake = self._next_close()
            await sleep_until(self._clock, wake, stop)

    def _decision_due(self) -> bool:
        """Whether the last closed candle still waits for its decision."""
        return self._decided_for != last_closed_open(self._clock.now(), self._config.interval)

    async def _after_failure(self, exc: Exception, failures: int) -> datetime:
        """Record a failed cycle (when the database allows); return when to try again."""
        account, now = self._config.account_id, self._clock.now()
        what = "cycle" if self._decision_due() else "guard pass"
        # Once per outage, then now and then: an outage of an hour is not 1000 lines.
        loud = failures == 1 or failures % 20 == 0
        logger.log(
            logging.WARNING if loud else logging.DEBUG,
            "%s: %s failed (%s); retrying: %s",
            account,
            what,
            failures,
            exc,
        )
        if loud:
            await self._executor.event(
                "cycle.failed",
                f"{what} failed, retrying: {exc.__class__.__name__}: {exc}",
                severity="warning",
                payload={"attempt": failures, "error": exc.__class__.__name__},
            )
        return min(retry_at(now, exc, failures), self._next_close())

    def _next_close(self) -> datetime:
        return next_close(self._clock.now(), self._config.interval, self._config.grace)

    def reconfigure(self, config: AgentConfig) -> None:
        """Use ``config`` from the next cycle on (hot reload); a cycle never sees two."""
        if config.account_id != self._config.account_id:
            raise ValueError(f"config of {config.account_id!r}, not {self._config.account_id!r}")
        self._next_config = config

    def _apply_next_config(self) -> None:
        config, self._next_config = self._next_config, None
        if config is None or config == self._config:
            return
        if config.interval != self._config.interval:
            self._feed = MarketFeed(
                config.account_id, config.interval, self._market, self._exchange, self._journal
            )
        self._executor.entry_type = config.entry_type
        self._guardian.max_stop_distance = config.limits.max_stop_distance
        self._guardian.policy = config.unmanaged_policy
        self._config = config
        logger.info("%s: new configuration in effect", config.account_id)

    async def tick(self) -> TickOutcome:
        """One full cycle (see the module docstring); cycles never overlap."""
        async with self._tick_lock:
            self._apply_next_config()
            if not self._restored:
                await self.recover()
            return await self._tick()

    async def recover(self) -> GuardReport:
        """Before the first cycle: theses, in-flight orders, missed fills, protection.

        See :mod:`app.agent.recovery`; safe to run again (everything is idempotent).
        """
        account, now = self._config.account_id, self._clock.now()
        report = GuardReport()
        try:
            # Orders first: an entry filled before a crash only becomes the thesis of its
            # position once the journal knows it filled.
            self._fills.since = await fills_since(self._journal, account, self._fills.since)
            orders = await self._exchange.open_orders()
            await self._guardian.reconcile_orders(now, report, orders)
            fills = await self._fills.record()
            state = await self._exchange.account_state()
            missing = [s for s in state.positions if s not in self._theses]
            intervals = {self._config.interval, self._config.long_interval}
            self._theses.update(
                await load_theses(
                    self._journal, account, missing, features=FEATURES, intervals=intervals
                )
            )
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # No journal to tell our positions from others': a stop for each, then wait.
            orders = await self._exchange.open_orders()
            state = await self._exchange.account_state()
            await self._guardian.bridge(state, self._theses, now, report, orders)
            raise
        await self._guardian.guard(state, self._theses, now, report, orders)
        self._restored = True  # only now: a recovery cut short by the exchange runs again
        await record_recovery(self._journal, account, report, fills, now)
        return report

    def theses(self) -> dict[str, Thesis]:
        """The theses of the open positions (a copy)."""
        return dict(self._theses)

    async def kill(self, *, flatten: bool, reason: str) -> None:
        """Kill switch: cancel every open order and, with ``flatten``, close every position."""
        async with self._tick_lock:
            now = self._clock.now()
            closed = await self._executor.kill(
                list(self._config.symbols.values()), flatten=flatten, reason=reason, now=now
            )
            for symbol in closed:
                self._theses.pop(symbol, None)
            await self._fills.record()
            await self._snapshot(now)

    @property
    def cycle_lock(self) -> asyncio.Lock:
        """Held for the whole of a cycle (and of every operator action)."""
        return self._tick_lock

    @property
    def exchange(self) -> Exchange:
        """The account's exchange port (for reads by the API)."""
        return self._exchange

    async def close_symbol(self, symbol: str, reason: str) -> bool:
        """Close one position at market (reduce-only) and cancel its protection.

        Returns False when there is no such position.
        """
        async with self._tick_lock:
            now = self._clock.now()
            position = (await self._exchange.account_state()).positions.get(symbol)
            if position is None:
                return False
            if await self._executor.close_position(position, "api", now):
                self._theses.pop(symbol, None)
                await self._executor.event(
                    "position.closed",
                    f"{symbol}: closed by an operator: {reason}",
                    payload={"symbol": symbol, "reason": reason},
                )
            else:  # its thesis and protection stay
                await self._executor.event(
                    "position.close_failed",
                    f"{symbol}: the operator's close did not fill; the position stays protected",
                    severity="warning",
                    payload={"symbol": symbol, "reason": reason},
                )
            await self._fills.record()
            return True

    async def cancel_order(self, client_order_id: str) -> bool:
        """Cancel one open order; False when no open order has that client id."""
        async with self._tick_lock:
            for order in await self._exchange.open_orders():
                if order.client_order_id == client_order_id:
                    await self._exchange.cancel_order(order.symbol, client_order_id)
                    found = await self._exchange.find_order(order.symbol, client_order_id)
                    await self._journal.order_update(found, client_order_id, self._clock.now())
                    return True
            return False

    async def guard_pass(self) -> GuardReport:
        """Between cycles, after a failure: journal backlog, fills, orders, protection.

        Needs the exchange, not the database: fills and order statuses the journal cannot
        take now are kept and written later, and protection is checked regardless.

        Raises:
            ProtectionPending: Some position's protection could not be settled.
            Exception: Whatever the exchange or the database raised (once protection ran).
        """
        async with self._tick_lock:
            if not self._restored:
                return await self.recover()
            guarded, _state = await self._guard(self._clock.now())
            return guarded

    async def _guard(self, now: datetime) -> tuple[GuardReport, AccountState]:
        """Record fills, reconcile orders, guard protection; the journal's failures last.

        Protection runs even when the journal is away; the first database failure is raised
        once it has.
        """
        guarded = GuardReport()
        deferred: Exception | None = None
        try:
            await self._executor.backlog.flush()
            await self._fills.record()
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            deferred = exc
        orders = await self._exchange.open_orders()
        if deferred is None:
            try:
                await self._guardian.reconcile_orders(now, guarded, orders)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                deferred = exc
        state = await self._exchange.account_state()
        await self._guardian.guard(state, self._theses, now, guarded, orders)
        if guarded.flattened:  # positions changed: read the account again
            state = await self._exchange.account_state()
        if deferred is not None:
            raise deferred
        return guarded, state

    async def _tick(self) -> TickOutcome:
        now = self._clock.now()
        account = self._config.account_id
        outcome = TickOutcome(at=now)
        symbols = list(self._config.symbols.values())
        for symbol in symbols:
            await self._feed.advance(symbol, now)
        fills_before = self._fills.recorded
        _guarded, state = await self._guard(now)
        outcome.fills = self._fills.recorded - fills_before
        reasons = [r for s in symbols for r in (await self._market.quality(s)).reasons]
        if reasons:
            outcome.skipped = "; ".join(reasons)
            await self._journal.event(
                account,
                "cycle.skipped",
                outcome.skipped,
                at=now,
                severity="warning",
                payload={"reasons": reasons},
            )
            await self._snapshot(now)
            return outcome
        features = {s: await self._market.features(s) for s in symbols}
        outcome.closed_by_invalidation = await close_invalidated(
            self._executor, self._theses, features, state, now
        )
        if outcome.closed_by_invalidation:  # positions changed: read the account again
            state = await self._exchange.account_state()
        before = await self._journal.risk_state(account)
        risk = roll_day(before, state.equity, now, self._config.limits)
        await self._journal.save_risk_state(account, risk, at=now)
        if risk.halted and not (before is not None and before.halted and before.day == risk.day):
            await self._journal.event(
                account,
                "risk.halt",
                risk.halt_reason or "entries halted",
                at=now,
                severity="critical",
            )
        marks = {s: self._market.mark(s) for s in symbols}
        context = decision_context(
            self._config, now, state, features, marks, self._theses, self._history, risk.halt_reason
        )
        decided = await self._provider.decide(context)
        legs = decided.decision.legs if decided.decision else ()
        markets = await market_snapshots(
            self._market, self._exchange, features, self._config.interval
        )
        verdicts = evaluate(
            [leg.proposal for leg in legs],
            account_snapshot(state, self._theses, now),
            markets,
            self._config.limits,
            risk,
            now=now,
            interval=interval_delta(self._config.interval),
        )
        candle_time = last_closed_open(now, self._config.interval)
        decision_id, leg_ids = await self._journal.decision(
            account, decided, legs, verdicts, candle_time=candle_time, at=now
        )
        self._decided_for = candle_time  # from here on a retry guards, it never re-decides
        by_symbol = {leg.proposal.symbol: leg for leg in legs}
        for index, (verdict, leg_id) in enumerate(zip(verdicts, leg_ids, strict=True)):
            if verdict.orders:
                # A thesis belongs to the position, not to this leg: a reduction or a close
                # that did not fill keeps it; the guardian drops it once the position is gone.
                outcome.orders_sent += await self._executor.execute(
                    verdict,
                    order_ids.leg_prefix(decision_id, index),
                    leg_id,
                    now,
                    by_symbol.get(verdict.proposal.symbol),
                    markets[verdict.proposal.symbol].mark_price,
                    self._theses,
                )
            remember(self._history, now, verdict)
        outcome.fills += await self._fills.record()
        await self._snapshot(now)
        return outcome

    async def _snapshot(self, now: datetime) -> None:
        await self._journal.snapshot(
            self._config.account_id, await self._exchange.account_state(), now
        )
