"""The agent loop of one account: closed candle -> decision -> risk -> orders -> journal.

The same code runs in live, paper, replay and backtest mode; only the ports differ (exchange,
market view, decision provider, clock, journal: :mod:`app.agent.ports`,
:mod:`app.market_data.ports`, :mod:`app.exchange.ports`, :mod:`app.llm.ports`). Before its
first cycle a loop recovers (:mod:`app.agent.recovery`). One :meth:`AgentLoop.tick` runs four
stages (their values are in :mod:`app.agent.cycle`):

1. **observe** (:class:`~app.agent.cycle.CycleInputs`): bring candles up to date and let a
   simulated exchange match on them (:class:`~app.agent.feed.MarketFeed`); record fills;
   reconcile open orders and guard every position's protection
   (:class:`~app.agent.guardian.Guardian`); ask the data-quality gate (skip the cycle, with
   the reasons, when it says no); close positions whose invalidation now holds; roll the risk
   day (daily-loss halt);
2. **decide**: build the context, ask the provider;
3. **judge**: the risk engine's verdict on every proposal; the decision is journaled;
4. **act**: approved legs go to the :class:`~app.agent.cycle.ExecutionPolicy` (intents
   journaled before sending, deterministic client ids, close-position stop and target on
   every entry); then fills are recorded and equity and positions snapshotted.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime

from app.agent import order_ids
from app.agent.cycle import (
    AgentConfig,
    ApprovedLeg,
    AutomaticExecution,
    CycleInputs,
    ExecutionPolicy,
    Judgement,
    TickOutcome,
)
from app.agent.execution import Executor
from app.agent.failures import JournalBacklog
from app.agent.feed import MarketFeed
from app.agent.fills import FillRecorder
from app.agent.guardian import Guardian
from app.agent.invalidations import close_invalidated
from app.agent.operator_actions import OperatorActions
from app.agent.ports import Journal
from app.agent.protection_passes import ProtectionPasses
from app.agent.runner import TickHook, run_cycles
from app.agent.schedule import next_close, retry_at
from app.agent.theses import Theses, Thesis
from app.agent.views import account_snapshot, decision_context, market_snapshots, remember
from app.core.clock import Clock
from app.core.types import interval_delta, last_closed_open
from app.exchange.ports import AccountState, Exchange
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.context import HistoryItem
from app.llm.ports import DecisionOutcome, DecisionProvider
from app.market_data.ports import MarketView
from app.trading.risk import evaluate, roll_day

__all__ = ["AgentConfig", "AgentLoop", "TickHook", "TickOutcome"]

logger = logging.getLogger(__name__)
FEATURES = feature_names(IndicatorConfig())


class AgentLoop(ProtectionPasses, OperatorActions):
    """One account's decision loop over its ports.

    Args:
        config: What the account trades, and how.
        clock: Every "now" of the loop (and every record's time).
        market: Candles, marks and features.
        exchange: Where orders go (live, paper).
        provider: Who decides (an LLM, the rules).
        journal: Where every step is written.
        policy: How approved legs become orders (automatic by default).
    """

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock,
        market: MarketView,
        exchange: Exchange,
        provider: DecisionProvider,
        journal: Journal,
        policy: ExecutionPolicy | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._market = market
        self._exchange = exchange
        self._provider = provider
        self._journal = journal
        self._policy: ExecutionPolicy = policy or AutomaticExecution()
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
        self._theses = Theses()
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

    @property
    def account_id(self) -> str:
        """The account the loop trades."""
        return self._config.account_id

    @property
    def thesis_vocabulary(self) -> tuple[Collection[str], Collection[str]]:
        """The features and intervals a stored invalidation condition may name."""
        return FEATURES, {self._config.interval, self._config.long_interval}

    @property
    def symbols(self) -> list[str]:
        """The symbols the account trades."""
        return list(self._config.symbols.values())

    async def run(
        self,
        stop: asyncio.Event,
        *,
        after_tick: Callable[[], Awaitable[None]] | None = None,
        on_tick: TickHook | None = None,
        until: datetime | None = None,
    ) -> None:
        """Tick at every candle close until ``stop`` or ``until`` (see :func:`run_cycles`)."""
        await run_cycles(self, stop, after_tick=after_tick, on_tick=on_tick, until=until)

    def decision_due(self) -> bool:
        """Whether the last closed candle still waits for its decision."""
        return self._decided_for != last_closed_open(self._clock.now(), self._config.interval)

    async def after_failure(self, exc: Exception, failures: int) -> datetime:
        """Record a failed cycle (when the database allows); return when to try again."""
        account, now = self._config.account_id, self._clock.now()
        what = "cycle" if self.decision_due() else "guard pass"
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
        return min(retry_at(now, exc, failures), self.next_close())

    def next_close(self) -> datetime:
        """The next candle close after now, plus the grace period."""
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

    def theses(self) -> dict[str, Thesis]:
        """The theses of the open positions (a copy)."""
        return self._theses.copy()

    @property
    def cycle_lock(self) -> asyncio.Lock:
        """Held for the whole of a cycle (and of every operator action)."""
        return self._tick_lock

    @property
    def exchange(self) -> Exchange:
        """The account's exchange port (for reads by the API)."""
        return self._exchange

    async def _tick(self) -> TickOutcome:
        now = self._clock.now()
        outcome = TickOutcome(at=now)
        inputs = await self._observe(now, outcome)
        if inputs is None:
            return outcome
        judgement = self._judge(inputs, await self._decide(inputs))
        decision_id, leg_ids = await self._journal.decision(
            self._config.account_id,
            judgement.decided,
            judgement.legs,
            judgement.verdicts,
            candle_time=inputs.candle_time,
            at=now,
        )
        self._decided_for = inputs.candle_time  # from here on a retry guards, never re-decides
        outcome.decided = True
        await self._act(inputs, judgement, decision_id, leg_ids, outcome)
        return outcome

    async def _observe(self, now: datetime, outcome: TickOutcome) -> CycleInputs | None:
        """Read the world once and settle what must happen before any decision.

        Returns None when the data-quality gate skips the cycle (journaled, with a snapshot).
        """
        account = self._config.account_id
        symbols = list(self._config.symbols.values())
        await self._feed.advance(symbols, now)
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
            await self._snapshot(now, state)
            return None
        features = await self._market.features_of(symbols)
        outcome.closed_by_invalidation = await close_invalidated(
            self._executor, self._theses, features, state, now
        )
        if outcome.closed_by_invalidation:  # positions changed: read the account again
            state = await self._exchange.account_state()
        before = await self._journal.risk_state(account)
        risk = roll_day(before, state.equity, now, self._config.limits)
        if risk != before:  # most cycles change nothing: no write
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
        return CycleInputs(
            at=now,
            candle_time=last_closed_open(now, self._config.interval),
            state=state,
            features=features,
            marks=marks,
            markets=await market_snapshots(marks, self._exchange, features, self._config.interval),
            risk=risk,
        )

    async def _decide(self, inputs: CycleInputs) -> DecisionOutcome:
        """Ask the provider (with the context built from ``inputs``)."""
        context = decision_context(
            self._config,
            inputs.at,
            inputs.state,
            inputs.features,
            inputs.marks,
            self._theses,
            self._history,
            inputs.risk.halt_reason,
        )
        return await self._provider.decide(context)

    def _judge(self, inputs: CycleInputs, decided: DecisionOutcome) -> Judgement:
        """The risk engine's verdict on every proposal (pure: no I/O)."""
        legs = decided.decision.legs if decided.decision else ()
        verdicts = evaluate(
            [leg.proposal for leg in legs],
            account_snapshot(inputs.state, self._theses, inputs.at),
            inputs.markets,
            self._config.limits,
            inputs.risk,
            now=inputs.at,
            interval=interval_delta(self._config.interval),
        )
        return Judgement(decided, legs, verdicts)

    async def _act(
        self,
        inputs: CycleInputs,
        judgement: Judgement,
        decision_id: uuid.UUID,
        leg_ids: list[uuid.UUID],
        outcome: TickOutcome,
    ) -> None:
        """Hand approved legs to the execution policy; record fills; snapshot."""
        by_symbol = {leg.proposal.symbol: leg for leg in judgement.legs}
        approved = [
            ApprovedLeg(
                verdict,
                by_symbol.get(verdict.proposal.symbol),
                leg_id,
                order_ids.leg_prefix(decision_id, index),
                inputs.markets[verdict.proposal.symbol].mark_price,
            )
            for index, (verdict, leg_id) in enumerate(zip(judgement.verdicts, leg_ids, strict=True))
            if verdict.orders
        ]
        if approved:
            report = await self._policy.act(self._executor, approved, self._theses, inputs.at)
            outcome.orders_sent += report.orders_sent
            outcome.held = report.held
        for verdict in judgement.verdicts:
            remember(self._history, inputs.at, verdict)
        outcome.fills += await self._fills.record()
        # The account only changed if something was sent or filled: else the observed one.
        changed = outcome.orders_sent or outcome.fills or outcome.closed_by_invalidation
        await self._snapshot(inputs.at, None if changed else inputs.state)

    async def _snapshot(self, now: datetime, state: AccountState | None = None) -> None:
        if state is None:
            state = await self._exchange.account_state()
        await self._journal.snapshot(self._config.account_id, state, now)
