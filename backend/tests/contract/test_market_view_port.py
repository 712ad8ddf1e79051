"""The market view's contract: ``MarketDataService`` keeps it alike over both candle stores.

Every service test runs on the SQL store (PostgreSQL) and on the memory store, fed by the
replay source on the bundled candles (and once by the fake AsterDEX) on a hand-moved clock.
The in-memory working set (``CandleSeries``) is checked against values computed from scratch:
the candles the source holds, and ``asset_features`` over them, so a drift of the float
columns (after the window slides, after a gap is refilled in the middle) cannot pass.
"""

from bisect import bisect_left, bisect_right
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.core.types import interval_delta, last_closed_open
from app.db.session import SessionFactory, session_scope
from app.exchange.events import MarkPriceUpdate
from app.exchange.http.client import AsterdexClient
from app.exchange.types import Kline, PremiumIndex
from app.indicators.compute import CandleArrays
from app.indicators.features import asset_features
from app.indicators.schemas import AssetFeatures, IndicatorConfig
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.models import IndicatorSnapshot
from app.market_data.ports import MarketDataSource, MarketView
from app.market_data.replay import ReplayMarketData
from app.market_data.series import CandleSeries
from app.market_data.service import MarketDataService
from app.market_data.stores import MemoryCandleStore
from tests.data import CANDLES_DIR, real_klines
from tests.db import Database
from tests.fakes.asterdex import FakeAsterdex
from tests.fakes.clock import ManualClock

SYMBOL, ASSET = "BTCUSDT", "BTC"
INTERVALS = ("1h", "4h")
BARS = 250  # the default working set: also each series' capacity
# Inside the recordings (the 15m file, the replay's mark price, starts 2025-11-01), five
# minutes past a 4h boundary: the 1h and 4h candles that closed at 00:00 are the newest.
T0 = datetime(2026, 3, 2, 0, 5, tzinfo=UTC)
CONFIG = IndicatorConfig()


# -- the two stores ------------------------------------------------------------------------


@dataclass
class Backing:
    """One candle store under test: builds services over it, reads its snapshots back."""

    sessions: SessionFactory | None
    memory: MemoryCandleStore | None = None
    services: list[MarketDataService] = field(default_factory=list)

    def view(
        self,
        source: MarketDataSource,
        clock: ManualClock,
        *,
        intervals: tuple[str, ...] = INTERVALS,
        max_mark_deviation: Decimal = Decimal("0.05"),
    ) -> MarketDataService:
        """A service over this store; a second one is a restart over the same candles."""
        if self.sessions is not None:
            service = MarketDataService(
                source,
                self.sessions,
                clock,
                intervals=intervals,
                max_mark_deviation=max_mark_deviation,
            )
        else:
            # None keeps everything in memory; a restart is handed the same memory store.
            service = MarketDataService(
                source,
                None,
                clock,
                intervals=intervals,
                max_mark_deviation=max_mark_deviation,
                store=self.memory,
            )
            if self.memory is None:
                assert isinstance(service.store, MemoryCandleStore)
                self.memory = service.store
        self.services.append(service)
        return service

    async def snapshots(self) -> dict[tuple[str, str, datetime], datetime]:
        """Every stored indicator snapshot: (symbol, interval, open time) -> computed at."""
        if self.sessions is None:
            assert self.memory is not None
            return {(s, i, t): at for (s, i, t, _), (_, at) in self.memory.snapshots.items()}
        async with session_scope(self.sessions) as session:
            rows = await session.scalars(select(IndicatorSnapshot))
            return {(r.symbol, r.interval, r.open_time): r.computed_at for r in rows}


@pytest.fixture
def sql_backing(pg: Database) -> Backing:
    return Backing(pg.sessions)


@pytest.fixture
def memory_backing() -> Backing:
    return Backing(None)


@pytest.fixture(params=[pytest.param("sql", marks=pytest.mark.postgres), "memory"])
def backing(request: pytest.FixtureRequest) -> Backing:
    """Each store in turn."""
    found: Backing = request.getfixturevalue(f"{request.param}_backing")
    return found


# -- the replay source, watched ------------------------------------------------------------


@dataclass
class Watched:
    """The replay source, remembering every candle it handed out (a plain pass-through)."""

    inner: MarketDataSource
    handed: list[Kline] = field(default_factory=list)

    async def symbols(self) -> set[str]:
        return await self.inner.symbols()

    async def candles(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> list[Kline]:
        found = await self.inner.candles(symbol, interval, start=start, end=end)
        self.handed.extend(found)
        return found

    async def premium_index(self, symbol: str) -> PremiumIndex:
        return await self.inner.premium_index(symbol)

    def take(self) -> list[Kline]:
        handed, self.handed = self.handed, []
        return handed


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def source(clock: ManualClock) -> Watched:
    return Watched(ReplayMarketData(clock, CANDLES_DIR))


@cache
def _recorded(interval: str) -> tuple[list[Kline], list[datetime]]:
    candles = real_klines(SYMBOL, interval)
    return candles, [c.open_time for c in candles]


def truth(interval: str, newest: datetime, count: int = BARS) -> list[Kline]:
    """The recorded closed candles ending at ``newest``, oldest first (from the files)."""
    candles, times = _recorded(interval)
    oldest = newest - interval_delta(interval) * (count - 1)
    return candles[bisect_left(times, oldest) : bisect_right(times, newest)]


def key(candles: Sequence[Kline]) -> list[tuple[datetime, Decimal, Decimal, Decimal]]:
    return [(c.open_time, c.open, c.close, c.volume) for c in candles]


async def from_scratch(view: MarketView, clock: ManualClock) -> AssetFeatures:
    """``asset_features`` over the recorded candles the view should hold now."""
    newest = {i: last_closed_open(clock.now(), i) for i in INTERVALS}
    return asset_features(ASSET, SYMBOL, {i: truth(i, newest[i]) for i in INTERVALS}, CONFIG)


async def assert_current(view: MarketView, clock: ManualClock) -> None:
    """The view holds exactly the newest recorded closed candles, and features from them."""
    for interval in INTERVALS:
        expected = truth(interval, last_closed_open(clock.now(), interval))
        assert key(await view.closed_candles(SYMBOL, interval, BARS)) == key(expected)
    assert await view.features(SYMBOL) == await from_scratch(view, clock)


# -- backfill, freshness, closed candles ---------------------------------------------------


async def test_backfill_loads_enough_closed_candles(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)

    added = await view.backfill(SYMBOL)

    assert added == 2 * BARS
    assert CONFIG.warmup_bars <= BARS
    for interval in INTERVALS:
        held = await view.closed_candles(SYMBOL, interval, BARS)
        assert len(held) == BARS
        assert held[-1].open_time == last_closed_open(T0, interval)
        assert all(c.closed and c.open_time + interval_delta(interval) <= T0 for c in held)
    assert all(c.open_time <= T0 for c in source.take())
    assert await view.backfill(SYMBOL) == 0
    assert source.take() == []  # nothing missing: nothing fetched


async def test_closed_candles_are_the_newest_count_oldest_first(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    await view.backfill(SYMBOL)
    everything = truth("1h", last_closed_open(T0, "1h"))

    for count in (1, 2, 7, BARS):
        held = await view.closed_candles(SYMBOL, "1h", count)
        assert key(held) == key(everything[-count:])
        assert [c.open_time for c in held] == sorted(c.open_time for c in held)
    assert await view.closed_candles(SYMBOL, "1h", 0) == []
    # More than the working set comes from the store, which holds no more than was loaded.
    assert key(await view.closed_candles(SYMBOL, "1h", BARS + 50)) == key(everything)


async def test_ensure_fresh_fetches_exactly_the_newly_closed_candles(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    await view.backfill(SYMBOL)
    source.take()

    assert await view.ensure_fresh(SYMBOL) == 0  # nothing closed since
    clock.advance(timedelta(hours=3))  # 03:05: three 1h candles closed, no 4h one
    assert await view.ensure_fresh(SYMBOL) == 3
    fetched = [c for c in source.take() if c.closed]
    assert [(c.interval, c.open_time) for c in fetched] == [
        ("1h", T0.replace(minute=0) + timedelta(hours=h)) for h in range(3)
    ]
    clock.advance(timedelta(hours=1))  # 04:05: one 1h and one 4h candle
    assert await view.ensure_fresh(SYMBOL) == 2
    assert await view.ensure_fresh(SYMBOL) == 0
    await assert_current(view, clock)


async def test_a_forming_candle_is_never_held(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    clock.advance(timedelta(minutes=50))  # 00:55: the 00:00 candle is forming
    forming = await source.candles(SYMBOL, "1h", start=T0 - timedelta(hours=2))
    assert not forming[-1].closed  # the source does hand it out

    await view.backfill(SYMBOL)
    assert await view.ingest(forming) == 0  # only the closed ones, all held already
    clock.advance(timedelta(minutes=40))  # 01:35
    await view.ensure_fresh(SYMBOL)

    for interval in INTERVALS:
        held = await view.closed_candles(SYMBOL, interval, BARS)
        assert all(c.closed for c in held)
        assert held[-1].open_time + interval_delta(interval) <= clock.now()
    assert (await view.closed_candles(SYMBOL, "1h", 1))[0].open_time == T0.replace(minute=0)


async def test_exchange_source_never_yields_a_forming_candle(backing: Backing) -> None:
    """The same over the fake AsterDEX's klines, whose last bar is the forming one."""
    clock = ManualClock(datetime.now(UTC).replace(minute=20, second=0, microsecond=0))
    async with (
        FakeAsterdex(clock=clock, rebase_to=clock.now()) as fake,
        AsterdexClient(base_url=fake.base_url, clock=clock) as client,
    ):
        exchange = ExchangeMarketData(client)
        view = backing.view(exchange, clock, intervals=("1h",))
        recent = await exchange.candles(SYMBOL, "1h", start=clock.now() - timedelta(hours=3))
        assert not recent[-1].closed

        assert await view.backfill(SYMBOL) == BARS
        clock.advance(timedelta(hours=2))
        await fake.process()
        assert await view.ensure_fresh(SYMBOL) == 2

        held = await view.closed_candles(SYMBOL, "1h", BARS)
        assert len(held) == BARS
        assert all(c.closed for c in held)
        assert held[-1].open_time == last_closed_open(clock.now(), "1h")
        assert [c.open_time for c in held] == [
            held[0].open_time + timedelta(hours=n) for n in range(BARS)
        ]


# -- the quality gate ----------------------------------------------------------------------


async def test_quality_gate_ok_stale_missing_and_mark_deviation(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock, max_mark_deviation=Decimal("0.05"))
    await view.backfill(SYMBOL)
    mark = await view.refresh_mark(SYMBOL)
    assert view.mark(SYMBOL) == mark
    assert (await view.quality(SYMBOL)).ok

    clock.advance(timedelta(hours=3))  # 1h: last closed 3 h ago (> two intervals); 4h: fine
    stale = await view.quality(SYMBOL)
    assert [r.split(":")[0] for r in stale.reasons] == [f"{SYMBOL} 1h"]
    assert "stale" in stale.reasons[0]
    await view.ensure_fresh(SYMBOL)
    assert (await view.quality(SYMBOL)).ok

    far = mark.mark_price * 2
    await view.consume(_once(MarkPriceUpdate(SYMBOL, far, Decimal(0), clock.now(), clock.now())))
    deviating = await view.quality(SYMBOL)
    assert len(deviating.reasons) == 2  # both timeframes' closes are far from it
    assert all("from the mark price" in r for r in deviating.reasons)
    await view.refresh_mark(SYMBOL)
    assert (await view.quality(SYMBOL)).ok

    view.keep_intervals(["15m"])  # a new timeframe, not loaded yet
    assert (await view.quality(SYMBOL)).reasons == (
        f"{SYMBOL} 15m: no closed candles (missing timeframe)",
    )
    await view.backfill(SYMBOL)
    assert (await view.quality(SYMBOL)).ok


async def _once(event: object) -> AsyncIterator[object]:
    yield event


# -- features and snapshots ----------------------------------------------------------------


async def test_features_equal_those_computed_from_scratch_as_the_window_slides(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    await view.backfill(SYMBOL)
    await assert_current(view, clock)

    # Well past ``capacity`` appends, in uneven steps, then in one jump of more than a window.
    for hours in (1, 1, 5, 24, 7, 60, 1, 100, 3, 70):
        clock.advance(timedelta(hours=hours))
        await view.ensure_fresh(SYMBOL)
        await assert_current(view, clock)
    clock.advance(timedelta(hours=BARS + 17))
    await view.ensure_fresh(SYMBOL)
    await assert_current(view, clock)


async def test_a_refilled_gap_in_the_middle_leaves_no_drift(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    full = {i: truth(i, last_closed_open(T0, i)) for i in INTERVALS}
    hole = full["1h"][120:126]
    await view.ingest([c for c in full["1h"] if c not in hole] + full["4h"])
    with_hole = await view.features(SYMBOL)  # computed (and cached) on the holey columns
    assert len(await view.closed_candles(SYMBOL, "1h", BARS)) == BARS - len(hole)

    assert await view.refill_gaps(SYMBOL, "1h") == len(hole)

    await assert_current(view, clock)
    assert await view.features(SYMBOL) != with_hole
    # And it stays right as new candles are appended behind the refilled ones.
    clock.advance(timedelta(hours=9))
    await view.ensure_fresh(SYMBOL)
    await assert_current(view, clock)


async def test_indicator_snapshots_are_stored_once_per_new_candle_at_clock_time(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    view = backing.view(source, clock)
    await view.backfill(SYMBOL)
    newest = {i: last_closed_open(T0, i) for i in INTERVALS}

    await view.features(SYMBOL)
    assert await backing.snapshots() == {(SYMBOL, i, newest[i]): T0 for i in INTERVALS}

    clock.advance(timedelta(minutes=20))  # no new candle: nothing is written again
    await view.ensure_fresh(SYMBOL)
    await view.features(SYMBOL)
    assert await backing.snapshots() == {(SYMBOL, i, newest[i]): T0 for i in INTERVALS}

    clock.advance(timedelta(minutes=45))  # 01:10: a new 1h candle, no new 4h one
    later = clock.now()
    await view.ensure_fresh(SYMBOL)
    await view.features(SYMBOL)
    await view.features(SYMBOL)
    assert await backing.snapshots() == {
        (SYMBOL, "1h", newest["1h"]): T0,
        (SYMBOL, "4h", newest["4h"]): T0,
        (SYMBOL, "1h", newest["1h"] + timedelta(hours=1)): later,
    }


async def test_a_refilled_gap_older_than_the_window_rewrites_no_snapshot(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    """Candles before the working set go to the store only: the features did not change."""
    view = backing.view(source, clock, intervals=("1h",))
    everything = truth("1h", last_closed_open(T0, "1h"), BARS + 40)
    await view.ingest(everything[:10] + everything[20:])  # a hole before the window
    await view.features(SYMBOL)
    before = await backing.snapshots()

    clock.advance(timedelta(minutes=30))  # still no new candle
    assert await view.refill_gaps(SYMBOL, "1h") == 10
    await view.features(SYMBOL)

    assert await backing.snapshots() == before


# -- a restart -----------------------------------------------------------------------------


async def test_a_restart_warms_from_the_store(
    backing: Backing, source: Watched, clock: ManualClock
) -> None:
    first = backing.view(source, clock)
    await first.backfill(SYMBOL)
    features = await first.features(SYMBOL)
    source.take()

    again = backing.view(source, clock)  # a new process over the same store

    assert await again.backfill(SYMBOL) == 0
    assert await again.ensure_fresh(SYMBOL) == 0
    assert source.take() == []  # everything came from the store
    for interval in INTERVALS:
        assert key(await again.closed_candles(SYMBOL, interval, BARS)) == key(
            await first.closed_candles(SYMBOL, interval, BARS)
        )
    assert await again.features(SYMBOL) == features
    clock.advance(timedelta(hours=2))
    assert await again.ensure_fresh(SYMBOL) == 2
    await assert_current(again, clock)


# -- CandleSeries --------------------------------------------------------------------------

POOL = real_klines(SYMBOL, "1h", count=40, skip=50_000)


def arrays_equal(left: CandleArrays, right: CandleArrays) -> bool:
    columns = ("open", "high", "low", "close", "volume")
    return all(np.array_equal(getattr(left, c), getattr(right, c)) for c in columns)


def test_a_series_refuses_no_capacity() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CandleSeries(0)


def test_a_series_ignores_forming_and_held_candles() -> None:
    series = CandleSeries(5)
    assert series.add(POOL[:3]) == POOL[:3]
    assert series.add([POOL[1], POOL[2]]) == []
    version = series.version
    assert series.add([]) == []
    assert series.version == version
    assert series.first_open_time == POOL[0].open_time
    assert series.last_open_time == POOL[2].open_time
    assert POOL[1].open_time in series
    assert POOL[4].open_time not in series
    assert "not a time" not in series
    step = timedelta(hours=1)
    assert series.missing(POOL[0].open_time, POOL[4].open_time, step) == [
        POOL[3].open_time,
        POOL[4].open_time,
    ]


def test_a_series_holds_no_forming_candle() -> None:
    series = CandleSeries(5)
    forming = _forming(POOL[0])
    assert series.add([forming]) == []
    assert len(series) == 0
    assert series.last_open_time is None


def _forming(candle: Kline) -> Kline:
    return Kline(
        candle.symbol,
        candle.interval,
        candle.open_time,
        candle.close_time,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
        candle.quote_volume,
        candle.trade_count,
        closed=False,
    )


def test_a_candle_older_than_a_full_window_is_not_reported_as_held() -> None:
    series = CandleSeries(3)
    series.add(POOL[5:8])
    version = series.version

    assert series.add([POOL[1]]) == []  # dropped at once: the window is full of newer ones

    assert series.version == version  # nothing derived from the series needs recomputing
    assert series.latest(3) == POOL[5:8]


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=12),
    batches=st.lists(
        st.lists(st.integers(min_value=0, max_value=len(POOL) - 1), max_size=15), max_size=8
    ),
    window=st.integers(min_value=0, max_value=14),
)
def test_any_order_of_adds_holds_the_newest_unique_candles(
    capacity: int, batches: list[list[int]], window: int
) -> None:
    series = CandleSeries(capacity)
    held: set[int] = set()
    for batch in batches:
        version = series.version
        before = set(series.latest(capacity))
        new = series.add(POOL[i] for i in batch)
        held |= set(batch)
        kept = sorted(held)[-capacity:]
        # What add() says is new was not held before, is held now, and appears once.
        assert len(new) == len({c.open_time for c in new})
        assert not set(new) & before
        assert set(new) <= set(series.latest(capacity))
        assert series.version == version + (1 if new else 0)
        assert series.latest(capacity) == [POOL[i] for i in kept]

    expected = [POOL[i] for i in sorted(held)[-capacity:]]
    assert len(series) == len(expected)
    assert series.latest(capacity + 5) == expected
    assert series.latest(window) == (expected[-window:] if window else [])
    assert arrays_equal(series.arrays(), CandleArrays.from_candles(expected))
    assert arrays_equal(
        series.arrays(window), CandleArrays.from_candles(expected[-window:] if window else [])
    )
    assert series.last_open_time == (expected[-1].open_time if expected else None)
    assert series.first_open_time == (expected[0].open_time if expected else None)
