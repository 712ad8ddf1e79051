"""Mark-price candles (backfilled AsterDEX markPriceKlines, for backtests).

``mark_candles`` is shaped like ``candles`` (prices only: mark-price klines have no volume).
It becomes a hypertable exactly when ``candles`` is one, so a database keeps one layout.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import ExactDecimal, UtcDateTime
from app.db.migration_ops import existing_hypertables
from app.db.timescale import HypertableSpec, hypertable_ddl

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision; app.db.timescale.HYPERTABLES lists the tables of revision 0001.
MARK_CANDLES = HypertableSpec("mark_candles", "open_time", "30 days", ("symbol", "interval"))


def upgrade() -> None:
    op.create_table(
        "mark_candles",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=4), nullable=False),
        sa.Column("open_time", UtcDateTime(), nullable=False),
        sa.Column("open", ExactDecimal(), nullable=False),
        sa.Column("high", ExactDecimal(), nullable=False),
        sa.Column("low", ExactDecimal(), nullable=False),
        sa.Column("close", ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "interval", "open_time", name=op.f("pk_mark_candles")),
    )
    if existing_hypertables(["candles"]):
        for statement in hypertable_ddl(MARK_CANDLES):
            op.execute(statement)


def downgrade() -> None:
    # Dropping a hypertable drops its chunks and compression policy with it.
    op.drop_table("mark_candles")
