"""Backtests run the live loop: deterministic, no look-ahead, clear refusals."""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from app.backtest.engine import BacktestRun, Progress, RunStatus, decision_times, run_backtest
from app.backtest.spec import BacktestSpec
from app.core.clock import Clock, SimulatedClock
from app.core.errors import ConfigError
from app.core.types import interval_delta
from app.llm.context import DecisionContext
from app.llm.ports import DecisionOutcome
from app.llm.rules import RulesDecisionProvider
from app.market_data.replay import ReplayMarketData
from app.runtime.builder import Shared
from tests.backtest.data import END, START, scaled, write_recording

SPEC = BacktestSpec(START, END, ("BTC", "ETH"), interval="1h", long_interval="4h")


def source_in(directory: Path) -> Callable[[Clock], ReplayMarketData]:
    def build(clock: Clock) -> ReplayMarketData:
        return ReplayMarketData(clock, directory)

    return build


def trades(run: BacktestRun) -> list[tuple[object, ...]]:
    return [
        (f.symbol, f.side, f.quantity, f.price, f.fee, f.realized_pnl, f.filled_at)
        for f in run.journal.fill_records
    ]


def decisions(run: BacktestRun) -> list[tuple[object, ...]]:
    return [(d.created_at, d.candle_time, d.status, d.parsed) for d in run.journal.decisions]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("recording"))


async def test_a_backtest_trades_every_close_of_the_window(recording: Path) -> None:
    run = await run_backtest(SPEC, source_in(recording))

    assert run.status is RunStatus.COMPLETED
    assert run.run_id.startswith("backtest-")
    cycles = decision_times(START, END, "1h")
    assert cycles == 240
    assert run.progress is not None
    assert run.progress.ticks == cycles
    assert len(run.journal.decisions) == cycles
    assert run.journal.fill_records, "the rules trade in ten days of real BTC and ETH"
    times = [d.created_at for d in run.journal.decisions]
    assert times[0] == START  # the run starts on a close: its first cycle is at once
    assert times[-1] < END
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(times[1:]))


async def test_the_same_inputs_give_identical_trades(recording: Path) -> None:
    first = await run_backtest(SPEC, source_in(recording))
    second = await run_backtest(SPEC, source_in(recording))

    assert trades(first) == trades(second)
    assert decisions(first) == decisions(second)
    assert [e.equity for e in first.journal.equity] == [e.equity for e in second.journal.equity]
    assert first.run_id != second.run_id


async def test_no_decision_sees_a_candle_that_had_not_closed(tmp_path: Path) -> None:
    """Changing every candle from a tick on changes nothing decided or filled before it."""
    cut_at = START + timedelta(days=5, hours=7)
    original = await run_backtest(SPEC, source_in(write_recording(tmp_path / "a")))
    altered_dir = write_recording(tmp_path / "b", alter=scaled(cut_at, Decimal("1.3")))
    altered = await run_backtest(SPEC, source_in(altered_dir))

    def before(rows: list[tuple[object, ...]], index: int) -> list[tuple[object, ...]]:
        return [r for r in rows if _time(r[index]) < cut_at]

    assert before(decisions(original), 0) == before(decisions(altered), 0)
    assert before(trades(original), 6) == before(trades(altered), 6)
    assert len(before(decisions(original), 0)) == 24 * 5 + 7
    # The alteration is visible from the cut on: the later marks differ.
    late = [e.equity for e in original.journal.equity if e.taken_at >= cut_at]
    assert late != [e.equity for e in altered.journal.equity if e.taken_at >= cut_at]


class Watching:
    """The rules, deciding as always, and remembering what every context held."""

    def __init__(self) -> None:
        self._rules = RulesDecisionProvider()
        self.name = self._rules.name
        self.contexts: list[DecisionContext] = []

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        self.contexts.append(context)
        return await self._rules.decide(context)


async def test_a_context_holds_only_candles_closed_by_its_cycle(recording: Path) -> None:
    watching = Watching()

    def hook(shared: Shared) -> None:
        shared.decide = watching

    run = await run_backtest(SPEC, source_in(recording), shared_hook=hook)

    assert len(watching.contexts) == len(run.journal.decisions) == 240
    for context in watching.contexts:
        for asset in context.assets:
            for interval, frame in asset.features.timeframes.items():
                closed_at = frame.open_time + interval_delta(interval)
                assert closed_at <= context.now, (asset.symbol, interval, frame.open_time)
                # ... and it is the newest such candle: nothing closed is left out either.
                assert closed_at + interval_delta(interval) > context.now
            # The mark is the last close known at the cycle (the 1h close just before it).
            assert asset.mark_price == Decimal(str(asset.features.timeframes["1h"].close))


async def test_market_orders_fill_at_the_price_of_the_decision_time(recording: Path) -> None:
    """The last close before the decision, moved by the paper slippage, never a later one."""
    run = await run_backtest(SPEC, source_in(recording))
    source = ReplayMarketData(SimulatedClock(END), recording)
    for fill in run.journal.fill_records:
        order = run.journal.order(fill.order_client_id or "")
        if order is None or order.type != "MARKET":
            continue
        hour = fill.filled_at.replace(minute=0, second=0, microsecond=0)
        candles = await source.candles(fill.symbol, "1h", start=hour - timedelta(hours=1), end=hour)
        last_close = [c for c in candles if c.close_time < fill.filled_at][-1].close
        slip = abs(fill.price - last_close) / last_close
        assert slip <= Decimal("0.0003"), (fill, last_close)


async def test_a_cancelled_backtest_stops_between_cycles(recording: Path) -> None:
    cancel = asyncio.Event()
    seen: list[int] = []

    async def progress(p: Progress) -> None:
        seen.append(p.ticks)
        if p.ticks == 10:
            cancel.set()

    run = await run_backtest(SPEC, source_in(recording), on_progress=progress, cancel=cancel)
    assert run.status is RunStatus.CANCELLED
    assert seen == list(range(1, 11))
    assert len(run.journal.decisions) == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": END}, "is not before --to"),
        ({"assets": ("DOGE",)}, "--assets"),
        ({"interval": "7m"}, "--interval: unknown interval"),
        ({"settings": {"NOPE": "1"}}, "--set NOPE: not a setting"),
        ({"settings": {"LEVERAGE": "-3"}}, "LEVERAGE"),
        ({"settings": {"TRADING_MODE": "live"}}, "a backtest sets TRADING_MODE itself"),
        ({"start": START - timedelta(days=40)}, "the indicators need"),
    ],
)
async def test_a_bad_request_is_refused_with_one_line_each(
    recording: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        await run_backtest(replace(SPEC, **change), source_in(recording))  # type: ignore[arg-type]
    assert any(message in line for line in refused.value.problems), refused.value.problems


def _time(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value
