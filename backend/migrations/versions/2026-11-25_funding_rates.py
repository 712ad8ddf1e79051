"""Funding rates: settled funding per symbol, for paper funding and backtests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import ExactDecimal, UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "funding_rates",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("funding_time", UtcDateTime(), nullable=False),
        sa.Column("rate", ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "funding_time", name=op.f("pk_funding_rates")),
    )


def downgrade() -> None:
    op.drop_table("funding_rates")
