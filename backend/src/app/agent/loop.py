"""The agent loop of one account: closed candle -> decision -> risk -> orders -> journal.

The same code runs in paper, replay and (once recovery lands) live mode; only the ports
differ. One :meth:`AgentLoop.tick`:

1. bring candles up to date and let a simulated exchange match stops on the new candles;
2. record fills (a stop-loss fill starts the stop-out cool-down);
3. ask the data-quality gate; skip the cycle, with the reasons, when it says no;
4. close positions whose invalidation condition now holds;
5. roll the risk day (daily-loss halt), build the context, ask the provider;
6. judge every proposal with the risk engine and store the decision;
7. execute approved legs: order intent journaled before sending, deterministic client ids,
   then exchange-side STOP_MARKET / TAKE_PROFIT_MARKET protection (close-position orders,
   mark-price triggered, so they always match the position's current size); a position
   that cannot be protected is closed at once;
8. snapshot equity and positions.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from app.agent.execution import Executor, Thesis
from app.agent.journal import Journal
from app.agent.views import account_snapshot, decision_context
from app.core.clock import Clock
from app.core.types import interval_delta
from app.exchange.errors import ExchangeError
from app.exchange.ports import AccountState, Exchange
from app.indicators.features import feature_names
from app.indicators.schemas import AssetFeatures, IndicatorConfig
from app.llm.context import DecisionContext, HistoryItem
from app.llm.invalidation import InvalidationError, feature_values, parse_condition
from app.llm.ports import DecisionProvider
from app.market_data.service import MarketDataService, last_closed_open
from app.trading.domain import (
    AccountSnapshot,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    RiskLimits,
)
from app.trading.risk import evaluate, record_stop_out, roll_day

logger = logging.getLogger(__name__)
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
        self._executor = Executor(config.account_id, exchange, journal)
        self._theses: dict[str, Thesis] = {}
        self._history: list[HistoryItem] = []
        self._fed: dict[str, datetime] = {}
        self._funding: dict[str, tuple[datetime, Decimal]] = {}
        self._tick_lock = asyncio.Lock()
        self._restored = False
        self._executions_since = clock.now()

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

        Temporary exchange failures are recorded and retried at the next close; anything
        else propagates and stops this account only (the supervisor records it).
        """
        while not stop.is_set():
            if until is not None and self._clock.now() > until:
                logger.info("%s: reached the end of the data (%s)", self._config.account_id, until)
                return
            try:
                await self.tick()
            except ExchangeError as exc:
                logger.warning("%s: cycle failed on the exchange: %s", self._config.account_id, exc)
                await self._journal.event(
                    self._config.account_id, "cycle.failed", str(exc), severity="warning"
                )
            if after_tick is not None:
                await after_tick()
            await self._clock.sleep_until(self._next_close())

    def _next_close(self) -> datetime:
        length = interval_delta(self._config.interval)
        return (
            last_closed_open(self._clock.now(), self._config.interval)
            + 2 * length
            + (self._config.grace)
        )

    async def tick(self) -> TickOutcome:
        """One full cycle (see the module docstring); cycles never overlap."""
        async with self._tick_lock:
            if not self._restored:
                await self.restore_theses()
            return await self._tick()

    async def restore_theses(self) -> None:
        """After a restart: reload, from the journal, the thesis of every open position."""
        self._restored = True
        state = await self._exchange.account_state()
        missing = [s for s in state.positions if s not in self._theses]
        if not missing:
            return
        intervals = {self._config.interval, self._config.long_interval}
        for symbol, saved in (
            await self._journal.entry_theses(self._config.account_id, missing)
        ).items():
            condition = None
            if saved["invalidation"]:
                try:
                    condition = parse_condition(
                        saved["invalidation"], features=FEATURES, intervals=intervals
                    )
                except InvalidationError as exc:
                    logger.warning("%s: stored invalidation no longer parses: %s", symbol, exc)
            self._theses[symbol] = Thesis(
                condition,
                saved["rationale"],
                Decimal(saved["stop_loss"]) if saved["stop_loss"] else None,
                Decimal(saved["take_profit"]) if saved["take_profit"] else None,
                saved["opened_at"],
            )

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
            await self._record_fills()
            await self._snapshot(now)

    async def _tick(self) -> TickOutcome:
        now = self._clock.now()
        account = self._config.account_id
        outcome = TickOutcome(at=now)
        symbols = list(self._config.symbols.values())
        for symbol in symbols:
            await self._market.ensure_fresh(symbol)
            await self._feed_exchange(symbol)
            await self._settle_funding(symbol, now)
            await self._market.refresh_mark(symbol)
            self._note_funding(symbol)
        outcome.fills = await self._record_fills()
        reasons = [r for s in symbols for r in (await self._market.quality(s)).reasons]
        if reasons:
            outcome.skipped = "; ".join(reasons)
            await self._journal.event(
                account,
                "cycle.skipped",
                outcome.skipped,
                severity="warning",
                payload={"reasons": reasons},
            )
            await self._snapshot(now)
            return outcome
        features = {s: await self._market.features(s) for s in symbols}
        state = await self._exchange.account_state()
        outcome.closed_by_invalidation = await self._check_invalidations(features, now, state)
        if outcome.closed_by_invalidation:  # positions changed: read the account again
            state = await self._exchange.account_state()
        risk = roll_day(
            await self._journal.risk_state(account), state.equity, now, self._config.limits
        )
        await self._journal.save_risk_state(account, risk)
        context = await self._context(now, state, features, risk.halt_reason)
        decided = await self._provider.decide(context)
        legs = decided.decision.legs if decided.decision else ()
        markets = await self._markets(features)
        verdicts = evaluate(
            [leg.proposal for leg in legs],
            self._account_snapshot(state),
            markets,
            self._config.limits,
            risk,
            now=now,
            interval=interval_delta(self._config.interval),
        )
        candle_time = last_closed_open(now, self._config.interval)
        decision_id, leg_ids = await self._journal.decision(
            account, decided, legs, verdicts, candle_time=candle_time
        )
        by_symbol = {leg.proposal.symbol: leg for leg in legs}
        for index, (verdict, leg_id) in enumerate(zip(verdicts, leg_ids, strict=True)):
            if verdict.orders:
                sent, thesis = await self._executor.execute(
                    verdict,
                    f"ta-{decision_id.hex[:16]}-{index}",
                    leg_id,
                    now,
                    by_symbol.get(verdict.proposal.symbol),
                )
                outcome.orders_sent += sent
                if thesis is not None:
                    self._theses[verdict.proposal.symbol] = thesis
                elif not verdict.proposal.action.opens:
                    self._theses.pop(verdict.proposal.symbol, None)
            self._remember(now, verdict)
        outcome.fills += await self._record_fills()
        await self._snapshot(now)
        return outcome

    async def _feed_exchange(self, symbol: str) -> None:
        """Hand every newly closed decision-interval candle to the exchange (paper matching)."""
        candles = await self._market.closed_candles(symbol, self._config.interval, 50)
        if not candles:
            return
        last = self._fed.get(symbol)
        if last is None:
            # First look: earlier candles were matched before this process started; only
            # the current price is news.
            await self._exchange.on_closed_candle(candles[-1])
            self._fed[symbol] = candles[-1].open_time
            return
        for candle in candles:
            if candle.open_time > last:
                await self._exchange.on_closed_candle(candle)
                last = candle.open_time
        self._fed[symbol] = last

    def _note_funding(self, symbol: str) -> None:
        mark = self._market.mark(symbol)
        if mark is not None:
            self._funding[symbol] = (mark.next_funding_time, mark.funding_rate)

    async def _settle_funding(self, symbol: str, now: datetime) -> None:
        """Charge the funding announced at the last look once its time has passed."""
        due = self._funding.get(symbol)
        mark = self._market.mark(symbol)
        if due is None or mark is None or now < due[0]:
            return
        paid = await self._exchange.settle_funding(symbol, due[1], mark.mark_price)
        del self._funding[symbol]
        if paid:
            await self._journal.event(
                self._config.account_id,
                "funding",
                f"{symbol}: funding {due[1]} at {due[0].isoformat()}: {paid} USDT",
                payload={"symbol": symbol, "rate": due[1], "amount": paid},
            )

    async def _record_fills(self) -> int:
        executions = await self._exchange.executions(self._executions_since)
        if not executions:
            return 0
        self._executions_since = max(e.time for e in executions)
        account = self._config.account_id
        added = await self._journal.fills(account, executions)
        stops = [e for e in executions if e.client_order_id.endswith("-sl")]
        if stops:
            risk = await self._journal.risk_state(account)
            if risk is not None:
                for execution in stops:
                    risk = record_stop_out(risk, execution.symbol, execution.time)
                    self._theses.pop(execution.symbol, None)
                await self._journal.save_risk_state(account, risk)
        return added

    async def _check_invalidations(
        self, features: dict[str, AssetFeatures], now: datetime, state: AccountState
    ) -> list[str]:
        closed: list[str] = []
        for symbol, thesis in list(self._theses.items()):
            position = state.positions.get(symbol)
            if position is None:
                self._theses.pop(symbol)
                continue
            if thesis.condition is None or symbol not in features:
                continue
            values = feature_values(
                {i: {"close": f.close, **f.values} for i, f in features[symbol].timeframes.items()}
            )
            if thesis.condition.evaluate(values) is True:
                await self._executor.close_position(position, "inv", now)
                await self._journal.event(
                    self._config.account_id,
                    "position.invalidated",
                    f"{symbol}: {thesis.condition.canonical} holds; closed",
                    payload={"symbol": symbol},
                )
                self._theses.pop(symbol)
                closed.append(symbol)
        return closed

    async def _markets(self, features: dict[str, AssetFeatures]) -> dict[str, MarketSnapshot]:
        markets = {}
        for symbol, asset in features.items():
            mark = self._market.mark(symbol)
            frame = asset.timeframes.get(self._config.interval)
            atr = frame.values.get("atr") if frame else None
            price = mark.mark_price if mark else Decimal(str(frame.close if frame else 0))
            markets[symbol] = MarketSnapshot(
                mark_price=price,
                atr=Decimal(str(atr)) if atr is not None else None,
                filters=await self._exchange.symbol_filters(symbol),
            )
        return markets

    def _account_snapshot(self, state: AccountState) -> AccountSnapshot:
        return account_snapshot(state, self._theses, self._clock.now())

    async def _context(
        self,
        now: datetime,
        state: AccountState,
        features: dict[str, AssetFeatures],
        halted: str | None,
    ) -> DecisionContext:
        marks = {s: self._market.mark(s) for s in self._config.symbols.values()}
        return decision_context(
            self._config, now, state, features, marks, self._theses, self._history, halted
        )

    def _remember(self, now: datetime, verdict: LegVerdict) -> None:
        if verdict.status is LegStatus.HOLD and not verdict.adjustments:
            return
        outcome = verdict.rejection or (
            f"{len(verdict.orders)} order(s), notional {verdict.notional_usd:.2f}"
            if verdict.orders
            else "no order"
        )
        self._history.append(
            HistoryItem(
                now,
                verdict.proposal.symbol,
                verdict.proposal.action.value,
                verdict.status.value,
                outcome,
            )
        )
        del self._history[:-20]

    async def _snapshot(self, now: datetime) -> None:
        await self._journal.snapshot(
            self._config.account_id, await self._exchange.account_state(), now
        )
