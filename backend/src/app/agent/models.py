"""The agent's event journal: everything that happened, in order, for audit and streaming."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.columns import run_column


class AgentEvent(Base):
    """One event (cycle started, data gate skipped, order sent, alert …).

    Hypertable on ``occurred_at``; the primary key includes it because TimescaleDB requires
    every unique index to contain the partitioning column.
    """

    __tablename__ = "agent_events"
    __table_args__ = (Index(None, "run_id", "account_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)  # the writer's clock
    run_id: Mapped[str] = run_column()
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    decision_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decisions.id"))


class AgentControl(Base):
    """The operator's word on one account's agent (start/pause/stop/kill), persisted.

    A kill switch (``halted``) survives restarts until an operator releases it. Kept per run:
    a backtest pausing or killing its agent must not touch the account's.
    """

    __tablename__ = "agent_controls"

    run_id: Mapped[str] = run_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()  # the writer's clock
