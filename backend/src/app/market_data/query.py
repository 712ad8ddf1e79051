"""Read-side use cases behind the market data endpoints."""

from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.core.types import KLINE_INTERVALS_MS, interval_delta
from app.market_data import repository as repo
from app.market_data import snapshots_repository as snapshot_repo
from app.market_data.schemas import CandleRead, CandlesRead, IndicatorsRead

MAX_LIMIT: Final = 5000
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
