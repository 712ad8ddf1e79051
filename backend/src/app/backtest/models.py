"""``backtest_runs``: one row per backtest started over the API, its results kept whole.

A backtest's records live in its own row (``trades``, ``equity``, ``decisions`` as compact
JSON lists written once, when the run ends), never in the journal tables: an account's own
records and a backtest's cannot mix, and deleting a run deletes all of it.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.columns import created_at
from app.trading.runs import RUN_ID_LENGTH


class BacktestRunRow(Base):
    """A backtest's request, status, progress and, once it ended, its results."""

    __tablename__ = "backtest_runs"
    __table_args__ = (Index(None, "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(RUN_ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(200))
    config: Mapped[dict[str, Any]]
    progress: Mapped[dict[str, Any] | None]
    metrics: Mapped[dict[str, Any] | None]
    notes: Mapped[list[Any]]
    error: Mapped[str | None] = mapped_column(Text)
    trades: Mapped[list[Any] | None]
    equity: Mapped[list[Any] | None]
    decisions: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
