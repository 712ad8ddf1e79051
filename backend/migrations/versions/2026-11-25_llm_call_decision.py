"""LLM calls link to their decision: every call of a cycle (fallbacks, repairs) is auditable.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.add_column(sa.Column("decision_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_llm_calls_decision_id_decisions"), "decisions", ["decision_id"], ["id"]
        )
        batch.create_index(op.f("ix_llm_calls_decision_id"), ["decision_id"])


def downgrade() -> None:
    with op.batch_alter_table("llm_calls") as batch:
        batch.drop_index(op.f("ix_llm_calls_decision_id"))
        batch.drop_constraint(op.f("fk_llm_calls_decision_id_decisions"), type_="foreignkey")
        batch.drop_column("decision_id")
