"""Market data tables: closed candles (last and mark price), indicator snapshots, funding."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.columns import created_at


class Candle(Base):
    """One closed kline. Hypertable on ``open_time``; upserts are idempotent on the key."""

    __tablename__ = "candles"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    open_time: Mapped[datetime] = mapped_column(primary_key=True)
    open: Mapped[Decimal]
    high: Mapped[Decimal]
    low: Mapped[Decimal]
    close: Mapped[Decimal]
    volume: Mapped[Decimal]
    quote_volume: Mapped[Decimal | None]
    trade_count: Mapped[int | None] = mapped_column(BigInteger)
    ingested_at: Mapped[datetime] = created_at()


class MarkCandle(Base):
    """One closed mark-price kline (backfilled for backtests), keyed like :class:`Candle`.

    The exchange's mark-price klines carry no volume, so only the prices are kept.
    Hypertable on ``open_time`` when TimescaleDB is in use, like ``candles``.
    """

    __tablename__ = "mark_candles"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    open_time: Mapped[datetime] = mapped_column(primary_key=True)
    open: Mapped[Decimal]
    high: Mapped[Decimal]
    low: Mapped[Decimal]
    close: Mapped[Decimal]


class IndicatorSnapshot(Base):
    """Indicator values for one (symbol, interval) as of a closed candle's open time.

    ``indicator_set`` identifies the configured indicators and periods, so a change of
    configuration never overwrites what earlier decisions saw.
    """

    __tablename__ = "indicator_snapshots"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    open_time: Mapped[datetime] = mapped_column(primary_key=True)
    indicator_set: Mapped[str] = mapped_column(String(64), primary_key=True)
    values: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = created_at()


class FundingRateRow(Base):
    """One settled funding rate of a symbol (for paper funding and backtests)."""

    __tablename__ = "funding_rates"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    funding_time: Mapped[datetime] = mapped_column(primary_key=True)
    rate: Mapped[Decimal]
