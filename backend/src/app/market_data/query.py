"""Read-side use cases behind the market data endpoints."""

from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.core.types import KLINE_INTERVALS_MS, interval_delta
from app.indicators.compute import ROUND_DIGITS, CandleArrays, compute
from app.indicators.schemas import IndicatorConfig
from app.market_data import repository as repo
from app.market_data import snapshots_repository as snapshot_repo
from app.market_data.schemas import (
    CandleRead,
    CandlesRead,
    IndicatorSeriesRead,
    IndicatorsRead,
)

MAX_LIMIT: Final = 5000
OVERLAYS: Final = ("ema_20", "ema_50", "ema_200", "bb_upper", "bb_middle", "bb_lower")
"""The series drawn over candles (the others have their own scales)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class NotFound(AppError):
    """The symbol (or its data) is unknown."""

    status_code = 404
    code = "not_found"


class InvalidQuery(AppError):
    """A query parameter is not acceptable."""

    status_code = 422
    code = "invalid_query"


def check_symbol(symbol: str, known: set[str]) -> str:
    """Upper-case ``symbol`` and make sure the service trades it."""
    name = symbol.upper()
    if name not in known:
        raise NotFound(
            f"unknown symbol '{symbol}'; this service follows {', '.join(sorted(known))}"
        )
    return name


def check_interval(interval: str, *, name: str = "interval") -> timedelta:
    """The length of an AsterDEX kline interval, or a 422 naming the allowed ones."""
    if interval not in KLINE_INTERVALS_MS or interval == "1M":
        allowed = " ".join(i for i in KLINE_INTERVALS_MS if i != "1M")
        raise InvalidQuery(f"{name} '{interval}' is not one of: {allowed}")
    return interval_delta(interval)


async def candles(
    session: AsyncSession,
    symbol: str,
    interval: str,
    *,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    bucket: str | None,
) -> CandlesRead:
    """Stored closed candles, newest ``limit`` in range, optionally resampled in SQL."""
    length = check_interval(interval)
    if start is not None and end is not None and start > end:
        raise InvalidQuery("start must not be after end")
    if bucket is None:
        rows = await repo.fetch_candles(
            session, symbol, interval, start=start, end=end, limit=limit, latest=start is None
        )
        items = [
            CandleRead(
                open_time=c.open_time,
                open=c.open,
                high=c.high,
                low=c.low,
                close=c.close,
                volume=c.volume,
            )
            for c in rows
        ]
        return CandlesRead(symbol=symbol, interval=interval, candles=items)
    width = check_interval(bucket, name="bucket")
    if width <= length or width % length:
        raise InvalidQuery(f"bucket '{bucket}' must be a multiple of the interval '{interval}'")
    end = end or datetime.now(UTC)
    start = start or end - width * limit
    rows_ = await repo.resample(session, symbol, interval, width, start=start, end=end, limit=limit)
    items = [
        CandleRead(
            open_time=row["bucket_start"],
            open=row["open"],
            high=row["high"],
            low=row["low"],
            close=row["close"],
            volume=row["volume"],
            candles=row["candles"],
        )
        for row in rows_
    ]
    return CandlesRead(symbol=symbol, interval=interval, bucket=bucket, candles=items)


async def indicators(
    session: AsyncSession, symbol: str, interval: str, *, at: datetime | None
) -> IndicatorsRead:
    """The newest indicator snapshot (or the newest at or before ``at``)."""
    check_interval(interval)
    snapshot = await snapshot_repo.load_snapshot(session, symbol, interval, at=at)
    if snapshot is None:
        when = f" at or before {at.isoformat()}" if at else ""
        raise NotFound(f"no indicator snapshot for {symbol} {interval}{when} yet")
    return IndicatorsRead(
        symbol=snapshot.symbol,
        interval=snapshot.interval,
        open_time=snapshot.open_time,
        indicator_set=snapshot.indicator_set,
        computed_at=snapshot.computed_at,
        features=snapshot.values,
    )


async def indicator_series(
    session: AsyncSession, symbol: str, interval: str, *, limit: int
) -> IndicatorSeriesRead:
    """The overlay indicators over the newest ``limit`` stored candles, for a chart.

    Computed here with the agent's indicator code and settings over ``limit`` candles plus
    the indicators' warm-up before them, so the lines match what the agent computes (an
    exponential average depends on where its window starts: the warm-up makes the drawn
    part independent of it to within rounding).
    """
    check_interval(interval)
    config = IndicatorConfig()
    rows = await repo.fetch_candles(
        session,
        symbol,
        interval,
        start=None,
        end=None,
        limit=limit + config.warmup_bars,
        latest=True,
    )
    shown = rows[-limit:]
    series: dict[str, list[float | None]] = {name: [] for name in OVERLAYS}
    if rows:
        computed = compute(CandleArrays.from_candles(rows), config)
        for name in OVERLAYS:
            tail = np.round(computed[name][-len(shown) :], ROUND_DIGITS)
            series[name] = [None if np.isnan(v) else v for v in tail.tolist()]
    return IndicatorSeriesRead(
        symbol=symbol,
        interval=interval,
        open_times=[c.open_time for c in shown],
        series=series,
    )
