"""Run a backtest: the live agent loop on a simulated clock, the paper exchange, memory ports.

Nothing here decides or trades: the account is built by
:func:`app.runtime.builder.build_account` exactly as the server builds a paper account, and
driven by :meth:`app.agent.loop.AgentLoop.run` exactly as the server drives it. Only the
parts differ: a :class:`~app.core.clock.SimulatedClock` (a sleep jumps to the next candle
close), recorded candles as the market source (no candle is served before it has closed on
that clock), an in-memory journal and candle store, and the offline symbol filters. The
paper replay and a backtest of the same window therefore make the same trades.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

from app.agent.cycle import TickOutcome
from app.backtest.llm_setup import LlmPlan, cached, check_model
from app.backtest.spec import BacktestSpec, ProviderKind, resolve
from app.config import AccountSettings, Settings
from app.core.clock import Clock, SimulatedClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS
from app.indicators.schemas import IndicatorConfig
from app.llm.cache import MemoryReplyStore, ReplyStore
from app.market_data.frames import FrameCache
from app.market_data.ports import MarketDataSource
from app.market_data.prefill import Prefill, prefill_window
from app.market_data.service import MarketDataService
from app.market_data.symbols import UnknownAssetError, resolve_assets
from app.records.memory_journal import MemoryJournal
from app.runtime.builder import Shared, build_account
from app.trading.runs import new_run_id

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)

PREFILL_MIN_CANDLES: Final = 2_000
"""Decided candles (cycles x assets) from which frames are computed ahead by default."""


class RunStatus(StrEnum):
    """How a backtest ended (or that it has not yet)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    COST_CAP = "stopped_at_cost_cap"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running backtest is.

    Attributes:
        ticks: Decision cycles run.
        total_ticks: Decision cycles in the window.
        candles: Closed candles of the decision interval processed (ticks x assets).
        decisions: Decisions recorded.
        trades: Fills so far.
        equity: The account's equity after the last cycle.
        llm_cost_usd: LLM spend so far.
        at: The simulated time of the last cycle.
    """

    ticks: int
    total_ticks: int
    candles: int
    decisions: int
    trades: int
    equity: Decimal | None
    llm_cost_usd: Decimal
    at: datetime | None

    def fields(self) -> dict[str, object]:
        """What a progress bar shows beside the count."""
        return {
            "candles": self.candles,
            "decisions": self.decisions,
            "fills": self.trades,
            "equity": f"{self.equity:.2f}" if self.equity is not None else "-",
        }


ProgressHook = Callable[[Progress], Awaitable[None]]

SourceFactory = Callable[[Clock], MarketDataSource]
"""Builds the run's market source on the run's clock (no candle is served before it closed)."""


@dataclass
class BacktestRun:
    """A backtest's parts and, once it ended, its records.

    Attributes:
        run_id: The run's id (``backtest-<uuid>``): its records' scope.
        spec: The request.
        settings: The resolved settings.
        account: The paper account it traded.
        journal: Every record the loop wrote (decisions with their LLM calls, orders,
            fills, equity, positions, events).
        source_of: Builds its market data on a clock (the report reads the window with it).
        symbols: Asset -> exchange symbol.
        status: How it ended.
        notes: Warnings for the report (cost cap reached, possible training leakage...).
        error: Why it failed, when it did.
        progress: The last progress.
        plan: An LLM run's cost estimate.
        frames: The indicator frames it shares with its replays, if it was given a cache.
    """

    run_id: str
    spec: BacktestSpec
    settings: Settings
    account: AccountSettings
    journal: MemoryJournal
    source_of: SourceFactory
    symbols: dict[str, str] = field(default_factory=dict)
    status: RunStatus = RunStatus.PENDING
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    progress: Progress | None = None
    plan: LlmPlan | None = None
    frames: FrameCache | None = None


def decision_times(start: datetime, end: datetime, interval: str) -> int:
    """How many candle closes of ``interval`` fall in ``[start, end)`` (the run's cycles)."""
    step = KLINE_INTERVALS_MS[interval]
    first = -(-int(start.timestamp() * 1000) // step)  # the first close at or after start
    last = -(-int(end.timestamp() * 1000) // step)  # the first close at or after end
    return max(0, last - first)


def llm_spend(journal: MemoryJournal) -> Decimal:
    """What the run's LLM calls cost (cached replies cost nothing)."""
    return journal.totals().llm_cost_usd


async def run_backtest(
    spec: BacktestSpec,
    source_of: SourceFactory,
    *,
    run_id: str | None = None,
    on_progress: ProgressHook | None = None,
    cancel: asyncio.Event | None = None,
    shared_hook: Callable[[Shared], None] | None = None,
    replies: ReplyStore | None = None,
    announce: Callable[[str], None] | None = None,
    frames: FrameCache | None = None,
    prefill: bool | None = None,
) -> BacktestRun:
    """Run ``spec`` to its end, a cost cap, or ``cancel``.

    Args:
        spec: The request.
        source_of: Builds the recorded candles (a CSV directory or the database's) on the
            run's simulated clock.
        run_id: The run's id; a fresh ``backtest-<uuid>`` by default.
        on_progress: Told after every cycle.
        cancel: Set to stop between cycles (the run ends ``cancelled``).
        shared_hook: Adjusts the run's shared parts before the account is built (a decision
            replay's recorded decisions, for one).
        replies: The LLM reply cache (an LLM run); in memory for this run only by default.
        announce: Told the LLM cost estimate before the first cycle (a terminal prints it).
        frames: Indicator frames to share with other passes over the same candles (a
            decision replay of this run reuses them); kept on the run.
        prefill: Compute the indicator frames ahead of the loop on the other core (see
            :mod:`app.market_data.prefill`; same results, faster); by default when the run
            decides on at least ``PREFILL_MIN_CANDLES`` candles (a worker process costs
            about a second to start).

    Returns:
        The run with its records; ``status`` says how it ended.

    Raises:
        ConfigError: The request or the data cannot make a run (one line per problem).
    """
    settings, account = resolve(spec)
    cycles = decision_times(spec.start, spec.end, spec.interval)
    if prefill is None:  # long enough to pay for a worker, and not already computed
        prefill = cycles * len(spec.assets) >= PREFILL_MIN_CANDLES and not frames
    if prefill and frames is None:
        frames = FrameCache()
    # Started before anything else: the worker imports while the run is set up.
    ahead = Prefill(frames) if prefill and frames is not None else None
    run = BacktestRun(
        run_id or new_run_id("backtest"), spec, settings, account, MemoryJournal(), source_of
    )
    run.frames = frames
    try:
        await _run(run, cycles, ahead, on_progress, cancel, shared_hook, replies, announce)
    finally:
        if ahead is not None:
            ahead.close()
    return run


async def _run(
    run: BacktestRun,
    cycles: int,
    ahead: Prefill | None,
    on_progress: ProgressHook | None,
    cancel: asyncio.Event | None,
    shared_hook: Callable[[Shared], None] | None,
    replies: ReplyStore | None,
    announce: Callable[[str], None] | None,
) -> None:
    """:func:`run_backtest` once its frame worker (if any) is started."""
    spec, settings, account, journal, source_of = (
        run.spec,
        run.settings,
        run.account,
        run.journal,
        run.source_of,
    )
    clock = SimulatedClock(spec.start)
    source = source_of(clock)
    intervals = tuple(dict.fromkeys((spec.interval, spec.long_interval)))
    await check_history(source_of, spec, intervals)
    market = MarketDataService(
        source,
        None,
        clock,
        intervals=intervals,
        backfill_bars=settings.backfill_bars,
        frames=run.frames,
        indicator_snapshots=False,  # its decisions keep what they saw; nothing reads these
    )
    shared = Shared(settings, market, journal, clock, None, None, until=spec.end, spend=journal)
    if spec.provider is ProviderKind.LLM:
        run.plan = await check_model(settings, account, spec, cycles)
        run.notes.append(run.plan.describe())  # kept with the run and in its report
        run.notes.extend(run.plan.notes)
        if announce is not None:
            announce(run.plan.describe())
        store = replies if replies is not None else MemoryReplyStore()  # an empty one is falsy
        shared.completions = cached(store, spec)
    if shared_hook is not None:
        shared_hook(shared)
    try:
        runtime = await build_account(shared, account)
        loop = runtime.managed.loop
        if loop is None:
            raise ConfigError([f"backtest: the account cannot run: {runtime.managed.detail}"])
        run.symbols = dict(loop.config.symbols)
        if ahead is not None:
            await prefill_window(
                ahead,
                source_of(SimulatedClock(spec.end)),  # every candle of the window, closed
                list(run.symbols.values()),
                intervals,
                start=spec.start,
                end=spec.end,
                held_bars=market.held_bars,
                indicators=market.indicators,
            )
        await _drive(run, loop.run, clock, on_progress, cancel)
    finally:
        for client in shared.clients:
            await client.aclose()


async def _drive(
    run: BacktestRun,
    loop_run: Callable[..., Awaitable[None]],
    clock: SimulatedClock,
    on_progress: ProgressHook | None,
    cancel: asyncio.Event | None,
) -> None:
    spec, journal = run.spec, run.journal
    stop = cancel or asyncio.Event()
    total = decision_times(spec.start, spec.end, spec.interval)
    ticks = 0
    run.status = RunStatus.RUNNING

    async def on_tick(outcome: TickOutcome) -> None:
        nonlocal ticks
        ticks += 1
        totals = journal.totals()
        spent = totals.llm_cost_usd
        run.progress = Progress(
            ticks,
            total,
            ticks * len(run.symbols),
            totals.decisions,
            totals.fills,
            totals.equity.equity if totals.equity is not None else None,
            spent,
            outcome.at,
        )
        if spec.max_cost_usd is not None and spent >= spec.max_cost_usd:
            run.status = RunStatus.COST_CAP
            run.notes.append(
                f"stopped at the cost cap: LLM spend {spent} USD reached --max-cost-usd "
                f"{spec.max_cost_usd} at {clock.now().isoformat()}"
            )
            stop.set()
        if on_progress is not None:
            await on_progress(run.progress)

    await loop_run(stop, on_tick=on_tick, until=spec.end)
    if run.status is RunStatus.RUNNING:
        run.status = RunStatus.CANCELLED if stop.is_set() else RunStatus.COMPLETED


async def check_history(
    source_of: SourceFactory, spec: BacktestSpec, intervals: Sequence[str]
) -> None:
    """Refuse a request the data cannot serve.

    Unknown assets, too little history before the start for the indicators, candles that
    stop before the end: each is one line, found before any cycle runs.

    Raises:
        ConfigError: One line per asset and interval the data does not cover.
    """
    source = source_of(SimulatedClock(spec.end))  # sees the whole window, closed
    try:
        symbols = resolve_assets(spec.assets, await source.symbols())
    except UnknownAssetError as exc:
        raise ConfigError([f"--assets: {exc}"]) from exc
    warmup = IndicatorConfig().warmup_bars
    problems: list[str] = []
    for symbol in symbols.values():
        for interval in intervals:
            step = timedelta(milliseconds=KLINE_INTERVALS_MS[interval])
            before = await source.candles(
                symbol, interval, start=spec.start - step * (warmup + 1), end=spec.start - step
            )
            if len(before) < warmup:
                problems.append(
                    f"--from {spec.start.isoformat()}: {symbol} has {len(before)} {interval} "
                    f"candles before it, the indicators need {warmup} (start later, or "
                    "backfill more history)"
                )
            last = await source.candles(symbol, interval, start=spec.end - step * 2)
            if not any(c.closed for c in last):
                problems.append(
                    f"--to {spec.end.isoformat()}: the {symbol} {interval} candles end before "
                    "it (end earlier, or backfill more history)"
                )
    if problems:
        raise ConfigError(problems)
