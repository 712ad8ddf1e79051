"""Paper accounts: the simulated exchange state of each paper account.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import JsonDocument, UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("state", JsonDocument, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_paper_accounts_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_paper_accounts")),
    )


def downgrade() -> None:
    op.drop_table("paper_accounts")
