"""LLM reply cache: replies keyed by a hash of the exact request, for backtest re-runs.

Also marks the LLM calls answered from that cache (``cache_hit``, ``cached_from``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import ExactDecimal, UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_reply_cache",
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("served_model", sa.String(length=128), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("finish_reason", sa.String(length=32), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", ExactDecimal(), nullable=True),
        sa.Column("generation_id", sa.String(length=128), nullable=True),
        sa.Column("original_call_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_hash", name=op.f("pk_llm_reply_cache")),
    )
    # Altered in place, never copied: decisions reference llm_calls, and SQLite's batch copy
    # drops the old table, which trips their foreign keys once there are rows.
    op.add_column(
        "llm_calls",
        sa.Column("cache_hit", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("llm_calls", sa.Column("cached_from", sa.Text(), nullable=True))


def downgrade() -> None:
    # In place too (SQLite 3.35+ drops a plain column without copying the table).
    op.drop_column("llm_calls", "cached_from")
    op.drop_column("llm_calls", "cache_hit")
    op.drop_table("llm_reply_cache")
