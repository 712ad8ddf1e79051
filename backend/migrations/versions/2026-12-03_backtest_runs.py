"""Backtest runs: their configuration, status, progress and report.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import JsonDocument, UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("config", JsonDocument, nullable=False),
        sa.Column("progress", JsonDocument, nullable=True),
        sa.Column("metrics", JsonDocument, nullable=True),
        sa.Column("notes", JsonDocument, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("trades", JsonDocument, nullable=True),
        sa.Column("equity", JsonDocument, nullable=True),
        sa.Column("decisions", JsonDocument, nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    # The list endpoint pages newest first on (created_at, id).
    op.create_index(op.f("ix_backtest_runs_created_at_id"), "backtest_runs", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_backtest_runs_created_at_id"), table_name="backtest_runs")
    op.drop_table("backtest_runs")
