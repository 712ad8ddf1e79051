"""Run scope: every journal record belongs to a run; existing rows to the account run.

Adds ``run_id`` (default ``account``, :data:`app.trading.runs.ACCOUNT_RUN`) to the tables the
journal writes, puts it first in the keys that identify a record per account (snapshots, risk,
paper and control state, fill trade ids) and in the indexes of the account reads. Order client
ids stay unique across runs.

On TimescaleDB the snapshot and event hypertables are decompressed and their compression
turned off while their keys change (unique constraints cannot be created on compressed chunks),
then compressed segments are grouped by run first.

Downgrade deletes every record of the other runs (backtests, arenas): the old keys cannot
hold them, and left in place they would become the account's.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.migration_ops import existing_hypertables
from app.db.timescale import (
    HYPERTABLES,
    RUN_SCOPED_HYPERTABLES,
    compression_ddl,
    decompression_ddl,
    run_scoped,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCOUNT_RUN = "account"  # app.trading.runs.ACCOUNT_RUN as of this revision

# Table -> the index columns of its account reads (after the new leading run_id).
_INDEXES: dict[str, list[list[str]]] = {
    "decisions": [["account_id", "created_at"]],
    "orders": [["account_id", "created_at"], ["account_id", "status"]],
    "fills": [["account_id", "filled_at"]],
    "agent_events": [["account_id", "occurred_at"]],
    "llm_calls": [["account_id", "created_at"]],
}
# Table -> its primary key columns (after the new leading run_id).
_KEYS: dict[str, list[str]] = {
    "equity_snapshots": ["account_id", "taken_at"],
    "position_snapshots": ["account_id", "symbol", "taken_at"],
    "risk_states": ["account_id"],
    "paper_accounts": ["account_id"],
    "agent_controls": ["account_id"],
}
_FILL_TRADE = ["account_id", "symbol", "trade_id"]


def _index_name(table: str, columns: list[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def _run_column() -> sa.Column[str]:
    return sa.Column("run_id", sa.String(length=64), nullable=False, server_default=_ACCOUNT_RUN)


def upgrade() -> None:
    specs = {spec.table: spec for spec in HYPERTABLES}
    hypertables = existing_hypertables(RUN_SCOPED_HYPERTABLES)
    for table in hypertables:
        for statement in decompression_ddl(specs[table]):
            op.execute(statement)

    # Altered in place, never copied (SQLite's batch copy drops the old table, which trips
    # the foreign keys of its children, or cascades to them): add a column, swap indexes.
    for table, indexes in _INDEXES.items():
        op.add_column(table, _run_column())
        for columns in indexes:
            op.drop_index(_index_name(table, columns), table_name=table)
            op.create_index(_index_name(table, ["run_id", *columns]), table, ["run_id", *columns])
    # Nothing references fills, nor the tables keyed below: on SQLite a batch copy is safe.
    with op.batch_alter_table("fills") as batch:
        batch.drop_constraint(f"uq_fills_{'_'.join(_FILL_TRADE)}", type_="unique")
        batch.create_unique_constraint(
            f"uq_fills_run_id_{'_'.join(_FILL_TRADE)}", ["run_id", *_FILL_TRADE]
        )
    for table, key in _KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(_run_column())
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["run_id", *key])

    for table in hypertables:
        for statement in compression_ddl(run_scoped(specs[table])):
            op.execute(statement)


def downgrade() -> None:
    specs = {spec.table: spec for spec in HYPERTABLES}
    hypertables = existing_hypertables(RUN_SCOPED_HYPERTABLES)
    for table in hypertables:
        for statement in decompression_ddl(run_scoped(specs[table])):
            op.execute(statement)

    _delete_other_runs()
    for table, key in _KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", key)
            batch.drop_column("run_id")
    with op.batch_alter_table("fills") as batch:
        batch.drop_constraint(f"uq_fills_run_id_{'_'.join(_FILL_TRADE)}", type_="unique")
        batch.create_unique_constraint(f"uq_fills_{'_'.join(_FILL_TRADE)}", _FILL_TRADE)
    for table, indexes in _INDEXES.items():
        for columns in indexes:
            op.drop_index(_index_name(table, ["run_id", *columns]), table_name=table)
            op.create_index(_index_name(table, columns), table, columns)
        # In place (SQLite 3.35+ drops columns natively), not by a batch copy: see upgrade.
        op.drop_column(table, "run_id")

    for table in hypertables:
        for statement in compression_ddl(specs[table]):
            op.execute(statement)


def _delete_other_runs() -> None:
    """Delete the records of every run but the account's, children before parents."""

    def table(name: str, *columns: str) -> sa.TableClause:
        return sa.table(name, sa.column("run_id"), *(sa.column(c) for c in columns))

    def other(clause: sa.TableClause) -> sa.ColumnElement[bool]:
        return clause.c.run_id != _ACCOUNT_RUN

    def delete_other_run(clause: sa.TableClause) -> None:
        op.execute(sa.delete(clause).where(other(clause)))

    llm_calls, decisions = table("llm_calls", "decision_id"), table(
        "decisions", "id", "llm_call_id"
    )
    # decisions.llm_call_id and llm_calls.decision_id point at each other: unlink first.
    op.execute(sa.update(llm_calls).where(other(llm_calls)).values(decision_id=None))
    op.execute(sa.update(decisions).where(other(decisions)).values(llm_call_id=None))
    for name in ("fills", "orders", "agent_events"):
        delete_other_run(table(name))
    # SQLite enforces no cascade unless foreign keys are on: delete the legs explicitly.
    legs = sa.table("decision_legs", sa.column("decision_id"))
    op.execute(
        sa.delete(legs).where(
            legs.c.decision_id.in_(sa.select(decisions.c.id).where(other(decisions)))
        )
    )
    for name in ("decisions", "llm_calls", *_KEYS):
        delete_other_run(table(name))
