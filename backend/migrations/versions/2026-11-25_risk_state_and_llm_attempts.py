"""Risk state per account (daily-loss halt, stop-outs) and the attempt number of LLM calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import ExactDecimal, JsonDocument, UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_states",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("day_start_equity", ExactDecimal(), nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("halt_reason", sa.Text(), nullable=True),
        sa.Column("stop_outs", JsonDocument, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_risk_states_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_risk_states")),
    )
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_column("attempt")
    op.drop_table("risk_states")
