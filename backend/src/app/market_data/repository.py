"""SQL for candles. Repositories flush, never commit.

Indicator snapshots and funding rates are in :mod:`app.market_data.snapshots_repository`.

Candle writes are bulk and idempotent on (symbol, interval, open_time). On PostgreSQL the
rows the table does not hold yet go in with ``COPY`` (the fast path); should a concurrent
writer win a race, the batch falls back to ``INSERT … ON CONFLICT DO NOTHING``. SQLite uses
the latter directly.
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import Select, and_, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.types import interval_delta
from app.db.columns import utc_now
from app.exchange.types import Kline
from app.market_data.models import Candle

logger = logging.getLogger(__name__)

CANDLE_COLUMNS: Final = (
    "symbol",
    "interval",
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "trade_count",
    "ingested_at",
)
_SMALL_BATCH: Final = 64
_INSERT_CHUNK: Final = 2000  # 11 columns x 2000 rows stays under PostgreSQL's 32767 parameters


def candle_records(candles: Sequence[Kline], now: datetime) -> list[tuple[Any, ...]]:
    """Rows for ``COPY``, in :data:`CANDLE_COLUMNS` order."""
    return [
        (
            c.symbol,
            c.interval,
            c.open_time,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.quote_volume,
            c.trade_count,
            now,
        )
        for c in candles
    ]


async def relaxed_durability(session: AsyncSession) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For market data only: candles can be fetched again and indicator snapshots computed
    again, so a power loss costing the last moment's rows loses nothing that matters, while
    waiting for the disk at every cycle's candle and snapshot writes costs more than the rest
    of the tick. The journal (decisions, orders, fills, equity) always commits durably.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


async def upsert_candles(session: AsyncSession, candles: Sequence[Kline]) -> int:
    """Store closed candles; rows already stored are left as they are.

    Args:
        session: The unit of work.
        candles: Closed candles (forming ones are refused).

    Returns:
        How many candles were new.

    Raises:
        ValueError: A candle is not closed.
    """
    if not candles:
        return 0
    if any(not c.closed for c in candles):
        raise ValueError("only closed candles are stored")
    if len(candles) <= _SMALL_BATCH:
        # A cycle's few new candles: one statement, no look-up first, no savepoint.
        return await _insert_ignore(session, candles)
    fresh = await _not_stored(session, candles)
    if not fresh:
        return 0
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        try:
            async with session.begin_nested():
                await _copy(session, fresh)
            return len(fresh)
        except UniqueViolationError:
            # A concurrent writer stored some of them since we looked: take the slow path.
            logger.info("candle COPY raced another writer; inserting with ON CONFLICT")
    return await _insert_ignore(session, fresh)


async def _not_stored(session: AsyncSession, candles: Sequence[Kline]) -> list[Kline]:
    """Drop the candles already in the table (one index range scan per series)."""
    by_series: dict[tuple[str, str], list[Kline]] = {}
    for candle in candles:
        by_series.setdefault((candle.symbol, candle.interval), []).append(candle)
    fresh: list[Kline] = []
    for (symbol, interval), group in by_series.items():
        times = [c.open_time for c in group]
        stored = set(
            await session.scalars(
                select(Candle.open_time).where(
                    Candle.symbol == symbol,
                    Candle.interval == interval,
                    Candle.open_time.between(min(times), max(times)),
                )
            )
        )
        seen: set[datetime] = set()
        for candle in group:
            if candle.open_time not in stored and candle.open_time not in seen:
                seen.add(candle.open_time)
                fresh.append(candle)
    return fresh


async def _copy(session: AsyncSession, candles: Sequence[Kline]) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None  # an open pooled connection always has one
    await driver.copy_records_to_table(
        "candles", records=candle_records(candles, utc_now()), columns=list(CANDLE_COLUMNS)
    )


async def _insert_ignore(session: AsyncSession, candles: Sequence[Kline]) -> int:
    connection = await session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    # One cached statement with the rows as parameters (SQLAlchemy batches them into
    # multi-row VALUES itself); RETURNING counts the rows that were new.
    statement = (
        insert(Candle)
        .on_conflict_do_nothing(index_elements=["symbol", "interval", "open_time"])
        .returning(Candle.open_time)
    )
    now = utc_now()
    inserted = 0
    for start in range(0, len(candles), _INSERT_CHUNK):
        chunk = candle_records(candles[start : start + _INSERT_CHUNK], now)
        rows = [dict(zip(CANDLE_COLUMNS, record, strict=True)) for record in chunk]
        inserted += len((await session.execute(statement, rows)).all())
    return inserted


def _to_kline(row: Candle) -> Kline:
    length = interval_delta(row.interval)
    return Kline(
        symbol=row.symbol,
        interval=row.interval,
        open_time=row.open_time,
        close_time=row.open_time + length - timedelta(milliseconds=1),
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        quote_volume=row.quote_volume if row.quote_volume is not None else Decimal(0),
        trade_count=row.trade_count or 0,
        closed=True,
    )


def _range(
    symbol: str, interval: str, start: datetime | None, end: datetime | None
) -> Select[tuple[Candle]]:
    query = select(Candle).where(Candle.symbol == symbol, Candle.interval == interval)
    if start is not None:
        query = query.where(Candle.open_time >= start)
    if end is not None:
        query = query.where(Candle.open_time <= end)
    return query


async def fetch_candles(
    session: AsyncSession,
    symbol: str,
    interval: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[Kline]:
    """Stored candles in range, oldest first; with ``latest``, the newest ``limit`` of them."""
    query = _range(symbol, interval, start, end)
    query = query.order_by(Candle.open_time.desc() if latest else Candle.open_time)
    if limit is not None:
        query = query.limit(limit)
    rows = [_to_kline(row) for row in await session.scalars(query)]
    return rows[::-1] if latest else rows


async def last_open_time(session: AsyncSession, symbol: str, interval: str) -> datetime | None:
    """Open time of the newest stored candle of the series."""
    query = select(func.max(Candle.open_time)).where(
        Candle.symbol == symbol, Candle.interval == interval
    )
    value = (await session.execute(query)).scalar_one_or_none()
    return _aware(value)


async def missing_open_times(
    session: AsyncSession, symbol: str, interval: str, start: datetime, end: datetime
) -> list[datetime]:
    """Open times in ``[start, end]`` (on the interval grid) with no stored candle."""
    step = interval_delta(interval)
    stored = {
        _aware(t)
        for t in await session.scalars(
            select(Candle.open_time).where(
                Candle.symbol == symbol,
                Candle.interval == interval,
                Candle.open_time.between(start, end),
            )
        )
    }
    missing: list[datetime] = []
    cursor = start
    while cursor <= end:
        if cursor not in stored:
            missing.append(cursor)
        cursor += step
    return missing


async def delete_candles(
    session: AsyncSession, symbol: str, interval: str, open_times: Sequence[datetime]
) -> None:
    """Remove candles (used by maintenance and by tests that cut gaps)."""
    await session.execute(
        delete(Candle).where(
            and_(
                Candle.symbol == symbol,
                Candle.interval == interval,
                Candle.open_time.in_(list(open_times)),
            )
        )
    )


_RESAMPLE_SQL: Final = text("""
    SELECT date_bin(:bucket, open_time, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket_start,
           (array_agg(open ORDER BY open_time))[1] AS open,
           max(high) AS high,
           min(low) AS low,
           (array_agg(close ORDER BY open_time DESC))[1] AS close,
           sum(volume) AS volume,
           count(*) AS candles
    FROM candles
    WHERE symbol = :symbol AND interval = :interval
      AND open_time >= :start AND open_time <= :end
    GROUP BY bucket_start
    ORDER BY bucket_start
    LIMIT :limit
    """)


async def resample(
    session: AsyncSession,
    symbol: str,
    interval: str,
    bucket: timedelta,
    *,
    start: datetime,
    end: datetime,
    limit: int,
) -> list[dict[str, Any]]:
    """OHLCV aggregated into ``bucket``-wide bins aligned to the epoch.

    PostgreSQL does it in SQL with ``date_bin`` (with or without TimescaleDB); SQLite, which
    stores decimals as text, aggregates in Python.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        params = {
            "bucket": bucket,
            "symbol": symbol,
            "interval": interval,
            "start": start,
            "end": end,
            "limit": limit,
        }
        result = await session.execute(_RESAMPLE_SQL, params)
        return [dict(row._mapping) for row in result]
    candles = await fetch_candles(session, symbol, interval, start=start, end=end)
    return _resample_in_python(candles, bucket)[:limit]


def _resample_in_python(candles: Sequence[Kline], bucket: timedelta) -> list[dict[str, Any]]:
    width = int(bucket.total_seconds() * 1000)
    groups: dict[int, list[Kline]] = {}
    for candle in candles:
        start_ms = int(candle.open_time.timestamp() * 1000)
        groups.setdefault(start_ms - start_ms % width, []).append(candle)
    return [
        {
            "bucket_start": datetime.fromtimestamp(key / 1000, UTC),
            "open": group[0].open,
            "high": max(c.high for c in group),
            "low": min(c.low for c in group),
            "close": group[-1].close,
            "volume": sum((c.volume for c in group), Decimal(0)),
            "candles": len(group),
        }
        for key, group in sorted(groups.items())
    ]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
