"""TimescaleDB: which tables become hypertables, and the DDL that makes them so.

The schema works with and without the extension. Migrations call :func:`hypertable_ddl` only
when ``CREATE EXTENSION timescaledb`` succeeded; otherwise the same tables stay plain
PostgreSQL tables whose primary keys (which all contain the time column) serve as time
indexes. Queries use SQL that runs on both (``date_bin``, never ``time_bucket``).

Retention: none by default. These tables are the audit trail of real-money decisions, and
compression keeps old chunks small enough to keep them.
"""

from dataclasses import dataclass
from typing import Final

EXTENSION: Final = "timescaledb"


@dataclass(frozen=True, slots=True)
class HypertableSpec:
    """How one table is partitioned and compressed.

    Attributes:
        table: Table name.
        time_column: Partitioning column (part of every unique index of the table).
        chunk_interval: Chunk width, as a PostgreSQL interval literal.
        segment_by: Columns compressed rows are grouped by (the usual query filters).
        compress_after: Age after which chunks are compressed, or None for never.
    """

    table: str
    time_column: str
    chunk_interval: str
    segment_by: tuple[str, ...]
    compress_after: str | None = "30 days"


HYPERTABLES: Final = (
    # Three symbols x two intervals of hourly candles is ~4k rows a month: month-wide chunks.
    HypertableSpec("candles", "open_time", "30 days", ("symbol", "interval")),
    HypertableSpec("indicator_snapshots", "open_time", "30 days", ("symbol", "interval")),
    HypertableSpec("position_snapshots", "taken_at", "7 days", ("account_id", "symbol")),
    HypertableSpec("equity_snapshots", "taken_at", "30 days", ("account_id",)),
    HypertableSpec("agent_events", "occurred_at", "7 days", ("account_id",)),
)


def hypertable_ddl(spec: HypertableSpec) -> list[str]:
    """The statements that turn ``spec.table`` into a compressed hypertable (idempotent)."""
    statements = [
        f"SELECT create_hypertable('{spec.table}', '{spec.time_column}', "
        f"chunk_time_interval => INTERVAL '{spec.chunk_interval}', "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    ]
    if spec.compress_after is not None:
        statements.append(
            f"ALTER TABLE {spec.table} SET (timescaledb.compress, "
            f"timescaledb.compress_segmentby = '{', '.join(spec.segment_by)}', "
            f"timescaledb.compress_orderby = '{spec.time_column} DESC')"
        )
        statements.append(
            f"SELECT add_compression_policy('{spec.table}', INTERVAL '{spec.compress_after}', "
            "if_not_exists => TRUE)"
        )
    return statements


def all_hypertable_ddl() -> list[str]:
    """DDL for every table in :data:`HYPERTABLES`, in order."""
    return [statement for spec in HYPERTABLES for statement in hypertable_ddl(spec)]
