"""SQL for indicator snapshots and funding rates. Repositories flush, never commit.

Snapshot writes are upserts on (symbol, interval, open time, indicator set); funding-rate
writes are idempotent on (symbol, funding time). Candles are in
:mod:`app.market_data.repository`.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.columns import utc_now
from app.market_data.models import FundingRateRow, IndicatorSnapshot


async def save_snapshot(
    session: AsyncSession,
    symbol: str,
    interval: str,
    open_time: datetime,
    indicator_set: str,
    values: dict[str, Any],
    *,
    computed_at: datetime | None = None,
) -> None:
    """Store (or replace) the indicator snapshot of one closed candle.

    ``computed_at`` defaults to now; the market view passes its clock's time.
    """
    await save_snapshots(
        session, [(symbol, interval, open_time, indicator_set, values)], computed_at or utc_now()
    )


async def save_snapshots(
    session: AsyncSession,
    snapshots: Sequence[tuple[str, str, datetime, str, dict[str, Any]]],
    computed_at: datetime,
) -> None:
    """Store (or replace) indicator snapshots in one statement.

    Each is ``(symbol, interval, open time, indicator set, values)``.
    """
    if not snapshots:
        return
    connection = await session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(IndicatorSnapshot)
    statement = statement.on_conflict_do_update(
        index_elements=["symbol", "interval", "open_time", "indicator_set"],
        set_={
            "values": statement.excluded["values"],
            "computed_at": statement.excluded.computed_at,
        },
    )
    # The rows as parameters of one cached statement, not literal VALUES compiled each time.
    await session.execute(
        statement,
        [
            {
                "symbol": symbol,
                "interval": interval,
                "open_time": open_time,
                "indicator_set": indicator_set,
                "values": values,
                "computed_at": computed_at,
            }
            for symbol, interval, open_time, indicator_set, values in snapshots
        ],
    )


async def load_snapshot(
    session: AsyncSession, symbol: str, interval: str, *, at: datetime | None = None
) -> IndicatorSnapshot | None:
    """The newest snapshot, or the newest one at or before ``at``."""
    query = select(IndicatorSnapshot).where(
        IndicatorSnapshot.symbol == symbol, IndicatorSnapshot.interval == interval
    )
    if at is not None:
        query = query.where(IndicatorSnapshot.open_time <= at)
    query = query.order_by(IndicatorSnapshot.open_time.desc(), IndicatorSnapshot.computed_at.desc())
    return (await session.scalars(query.limit(1))).first()


async def save_funding_rates(
    session: AsyncSession, symbol: str, rates: Sequence[tuple[datetime, Decimal]]
) -> None:
    """Store settled funding rates (idempotent on symbol and time)."""
    if not rates:
        return
    connection = await session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(FundingRateRow).values(
        [{"symbol": symbol, "funding_time": t, "rate": r} for t, r in rates]
    )
    await session.execute(
        statement.on_conflict_do_nothing(index_elements=["symbol", "funding_time"])
    )
