"""The market data service: fresh, complete, closed candles and the features built on them.

It implements the loop's :class:`~app.market_data.ports.MarketView`. For each symbol and
interval it holds the recent closed candles in memory (:class:`~app.market_data.series.
CandleSeries`, float columns ready for the indicators, appended as candles close) and writes
every new candle through to a :class:`~app.market_data.ports.CandleStore` (the database, or
memory for backtests). It backfills enough closed candles for the slowest indicator, keeps
current from the kline stream (:meth:`consume`) with a REST fallback (:meth:`ensure_fresh`),
refills gaps, keeps the mark price and funding per symbol, answers the data-quality gate, and
builds (and stores, once per new candle) the per-asset feature objects.
"""

import logging
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from app.core.clock import Clock
from app.core.types import interval_delta, last_closed_open
from app.db.session import SessionFactory
from app.exchange.events import KlineClosed, MarkPriceUpdate
from app.exchange.types import Kline
from app.indicators.features import features_of_arrays
from app.indicators.schemas import AssetFeatures, IndicatorConfig, TimeframeFeatures
from app.market_data.frames import FrameCache
from app.market_data.ports import CandleStore, IndicatorValues, MarketDataSource, MarkState
from app.market_data.quality import QualityVerdict, TimeframeState, assess
from app.market_data.series import CandleSeries
from app.market_data.stores import MemoryCandleStore, SqlCandleStore
from app.market_data.symbols import asset_for, resolve_assets

logger = logging.getLogger(__name__)

__all__ = ["MarkState", "MarketDataService", "last_closed_open"]


class MarketDataService:
    """Candles and features for a set of symbols at one or more intervals.

    Args:
        source: Where candles and mark prices come from (exchange or replay).
        sessions: Database sessions for the candle store; None keeps everything in memory
            (backtests, fast tests).
        clock: The time source (replay and tests move it by hand).
        intervals: The decision interval and the longer context interval.
        backfill_bars: Closed candles to hold per series (at least the indicator warm-up).
        max_mark_deviation: The quality gate's largest |close - mark| / mark.
        indicators: Which indicators the features contain.
        store: Another candle store (overrides ``sessions``).
        frames: Feature frames shared with other passes over the same candles (a
            backtest's decision replays); None computes every frame here.
        indicator_snapshots: Store each new frame as an indicator snapshot (the audit of
            what a live decision saw); a backtest, whose decisions keep their own record and
            whose store is dropped with it, need not.
    """

    def __init__(
        self,
        source: MarketDataSource,
        sessions: SessionFactory | None,
        clock: Clock,
        *,
        intervals: Sequence[str],
        backfill_bars: int = 250,
        max_mark_deviation: Decimal = Decimal("0.05"),
        indicators: IndicatorConfig | None = None,
        store: CandleStore | None = None,
        frames: FrameCache | None = None,
        indicator_snapshots: bool = True,
    ) -> None:
        self._source = source
        self._sessions = sessions
        self._store: CandleStore = store or (
            SqlCandleStore(sessions) if sessions is not None else MemoryCandleStore()
        )
        self._clock = clock
        self._intervals = tuple(dict.fromkeys(intervals))
        self._indicators = indicators or IndicatorConfig()
        self._indicator_set = self._indicators.fingerprint  # a hash: once, not per frame
        self._backfill = max(backfill_bars, self._indicators.warmup_bars)
        self._max_deviation = max_mark_deviation
        self._marks: dict[str, MarkState] = {}
        self._series: dict[tuple[str, str], CandleSeries] = {}
        # Features of a series at a version of its candles: a 4h frame is computed once per
        # 4h candle, not at every 1h tick.
        self._frames: dict[tuple[str, str], tuple[int, TimeframeFeatures]] = {}
        # Frames shared with other passes over the same candles (a backtest's replays).
        self._shared = frames
        self._snapshots = indicator_snapshots
        self.on_closed: Callable[[Kline], object] | None = None
        """Told about every newly closed candle after it is stored (live streaming)."""

    @property
    def source(self) -> MarketDataSource:
        """Where candles come from."""
        return self._source

    @property
    def sessions(self) -> SessionFactory | None:
        """The database sessions the candle store writes with (None in memory)."""
        return self._sessions

    @property
    def store(self) -> CandleStore:
        """Where candles and indicator snapshots are written through to."""
        return self._store

    @property
    def indicators(self) -> IndicatorConfig:
        """Which indicators the features contain."""
        return self._indicators

    @property
    def held_bars(self) -> int:
        """Closed candles held per series: the window every frame is computed over."""
        return self._backfill

    @property
    def intervals(self) -> tuple[str, ...]:
        """The intervals this service keeps."""
        return self._intervals

    def keep_intervals(self, intervals: Iterable[str]) -> None:
        """Keep these intervals too (hot reload of INTERVAL / LONG_INTERVAL); backfill next."""
        self._intervals = tuple(dict.fromkeys((*self._intervals, *intervals)))

    async def resolve_assets(self, assets: Iterable[str]) -> dict[str, str]:
        """Map configured assets to exchange symbols, checked against the source.

        Raises:
            UnknownAssetError: An asset has no perpetual on the exchange.
        """
        return resolve_assets(assets, await self._source.symbols())

    async def _held(self, symbol: str, interval: str) -> CandleSeries:
        """The in-memory series, warmed from the store on first use (e.g. after a restart)."""
        key = (symbol, interval)
        series = self._series.get(key)
        if series is None:
            series = CandleSeries(self._backfill)
            series.add(await self._store.latest(symbol, interval, self._backfill))
            self._series[key] = series
        return series

    async def backfill(self, symbol: str) -> int:
        """Load closed candles for every interval of ``symbol``; refill gaps. Returns new rows."""
        added = 0
        for interval in self._intervals:
            added += await self._backfill_series(symbol, interval)
        return added

    async def _backfill_series(self, symbol: str, interval: str) -> int:
        step = interval_delta(interval)
        newest = last_closed_open(self._clock.now(), interval)
        oldest = newest - step * (self._backfill - 1)
        missing = (await self._held(symbol, interval)).missing(oldest, newest, step)
        if not missing:
            return 0
        candles = await self._source.candles(symbol, interval, start=missing[0], end=newest)
        wanted = set(missing)
        added = await self._keep([c for c in candles if c.closed and c.open_time in wanted])
        logger.info(
            "%s %s: %d closed candles loaded (%d were missing)",
            symbol,
            interval,
            added,
            len(missing),
        )
        return added

    async def refill_gaps(self, symbol: str, interval: str) -> int:
        """Find holes between the oldest and newest stored candle and fetch them again."""
        missing = await self._store.gaps(symbol, interval)
        added = 0
        for start, end in _runs(missing, interval_delta(interval)):
            fetched = await self._source.candles(symbol, interval, start=start, end=end)
            added += await self._keep([c for c in fetched if c.closed])
        if missing:
            logger.warning("%s %s: %d missing candles refilled", symbol, interval, added)
        return added

    async def ensure_fresh(self, symbol: str) -> int:
        """REST fallback: fetch closed candles newer than the newest held ones."""
        return await self.refresh([symbol])

    async def refresh(self, symbols: Sequence[str]) -> int:
        """:meth:`ensure_fresh` for several symbols; their new candles stored in one write."""
        added = 0
        fetched: list[Kline] = []
        now = self._clock.now()
        for symbol in symbols:
            for interval in self._intervals:
                held = self._series.get((symbol, interval))
                if held is None:  # not yet warmed from the store
                    held = await self._held(symbol, interval)
                newest = held.last_open_time
                expected = last_closed_open(now, interval)
                if newest is not None and newest >= expected:
                    continue
                if newest is None:
                    added += await self._backfill_series(symbol, interval)
                    continue
                candles = await self._source.candles(
                    symbol, interval, start=newest + interval_delta(interval), end=expected
                )
                fetched.extend(c for c in candles if c.closed)
        added += await self._keep(fetched)
        self._announce(fetched)
        return added

    def _announce(self, candles: Sequence[Kline]) -> None:
        if self.on_closed is not None:
            for candle in candles:
                self.on_closed(candle)

    async def refresh_mark(self, symbol: str) -> MarkState:
        """Ask the source for the current mark price and funding."""
        premium = await self._source.premium_index(symbol)
        state = MarkState(
            premium.mark_price, premium.last_funding_rate, premium.next_funding_time, premium.time
        )
        self._marks[symbol] = state
        return state

    def mark(self, symbol: str) -> MarkState | None:
        """The latest known mark price and funding of ``symbol``."""
        return self._marks.get(symbol)

    async def consume(self, events: AsyncIterable[object]) -> None:
        """Ingest a market stream: closed klines are stored, mark prices kept."""
        async for event in events:
            if isinstance(event, KlineClosed) and event.kline.interval in self._intervals:
                if await self._keep([event.kline]):
                    self._announce([event.kline])
            elif isinstance(event, MarkPriceUpdate):
                self._marks[event.symbol] = MarkState(
                    event.mark_price, event.funding_rate, event.next_funding_time, event.time
                )

    async def ingest(self, candles: Sequence[Kline]) -> int:
        """Store closed candles from any source (stream, tests, replay)."""
        return await self._keep([c for c in candles if c.closed])

    async def _keep(self, candles: Sequence[Kline]) -> int:
        """Write closed candles through to the store, then hold them; how many were new."""
        if not candles:
            return 0
        # The store first: a candle held but never stored would be lost on a restart.
        stored = await self._store.save(candles)
        by_series: dict[tuple[str, str], list[Kline]] = {}
        for candle in candles:
            by_series.setdefault((candle.symbol, candle.interval), []).append(candle)
        for (symbol, interval), series_candles in by_series.items():
            (await self._held(symbol, interval)).add(series_candles)
        return stored

    async def closed_candles(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The newest ``count`` closed candles, oldest first (from memory)."""
        if count > self._backfill:  # more than the working set: ask the store
            return await self._store.latest(symbol, interval, count)
        return (await self._held(symbol, interval)).latest(count)

    async def quality(self, symbol: str) -> QualityVerdict:
        """The data-quality gate for one symbol, across every interval."""
        states: dict[str, TimeframeState] = {}
        for interval in self._intervals:
            last = (await self._held(symbol, interval)).latest(1)
            states[interval] = TimeframeState(
                last[-1].open_time if last else None, last[-1].close if last else None
            )
        mark = self._marks.get(symbol)
        return assess(
            symbol,
            self._clock.now(),
            states,
            mark.mark_price if mark else None,
            max_mark_deviation=self._max_deviation,
        )

    async def features(self, symbol: str) -> AssetFeatures:
        """The multi-timeframe feature object of ``symbol``, stored as indicator snapshots.

        Raises:
            ValueError: A timeframe has no closed candles.
        """
        return (await self.features_of([symbol]))[symbol]

    async def features_of(self, symbols: Sequence[str]) -> dict[str, AssetFeatures]:
        """:meth:`features` of several symbols; their new snapshots stored in one write.

        A frame is computed (and stored) once per new candle of its series: a 4h frame once
        per 4h candle, not at every 1h cycle.

        Raises:
            ValueError: A timeframe has no closed candles.
        """
        fresh: list[IndicatorValues] = []
        found: dict[str, AssetFeatures] = {}
        for symbol in symbols:
            frames = {
                interval: await self._frame(symbol, interval, fresh) for interval in self._intervals
            }
            # Built from frames made here: validating them again would cost a frame's worth.
            found[symbol] = AssetFeatures.model_construct(
                asset=asset_for(symbol), symbol=symbol, timeframes=frames
            )
        if fresh:
            await self._store.save_indicators(fresh, self._clock.now())
        return found

    async def _frame(
        self, symbol: str, interval: str, fresh: list[IndicatorValues]
    ) -> TimeframeFeatures:
        series = await self._held(symbol, interval)
        cached = self._frames.get((symbol, interval))
        if cached is not None and cached[0] == series.version:
            return cached[1]
        last = series.last_open_time
        if last is None:
            raise ValueError(f"no closed candles for {symbol} {interval}")
        key = None
        frame = None
        if self._shared is not None:
            key = (symbol, interval, last, len(series), series.digest())
            frame = self._shared.get(key)
        if frame is None:
            frame = features_of_arrays(symbol, interval, last, series.arrays(), self._indicators)
            if key is not None and self._shared is not None:
                self._shared.put(key, frame)
        if self._snapshots:
            fresh.append(
                IndicatorValues(
                    symbol,
                    interval,
                    frame.open_time,
                    self._indicator_set,
                    frame.model_dump(mode="json"),
                )
            )
        self._frames[(symbol, interval)] = (series.version, frame)
        return frame


def _runs(times: Sequence[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Consecutive runs of grid times as (first, last) pairs, so each gap is one request."""
    runs: list[tuple[datetime, datetime]] = []
    for moment in times:
        if runs and moment - runs[-1][1] == step:
            runs[-1] = (runs[-1][0], moment)
        else:
            runs.append((moment, moment))
    return runs
