"""TimescaleDB: which tables become hypertables, and the DDL that makes them so.

The schema works with and without the extension. Migrations call :func:`hypertable_ddl` only
when ``CREATE EXTENSION timescaledb`` succeeded; otherwise the same tables stay plain
PostgreSQL tables whose primary keys (which all contain the time column) serve as time
indexes. Queries use SQL that runs on both (``date_bin``, never ``time_bucket``).

Retention: none by default. These tables are the audit trail of real-money decisions, and
compression keeps old chunks small enough to keep them.
"""

from dataclasses import dataclass, replace
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


RUN_SCOPED_HYPERTABLES: Final = ("position_snapshots", "equity_snapshots", "agent_events")
"""Hypertables whose rows carry a run id (revision 0007 added it, after :data:`HYPERTABLES`
had created them): their compressed segments are grouped by run first, see :func:`run_scoped`.
"""


def run_scoped(spec: HypertableSpec) -> HypertableSpec:
    """``spec`` as it is once its table has a run id: segmented by ``run_id`` first.

    :data:`HYPERTABLES` stays as revision 0001 created the tables (it runs before the column
    exists); revision 0007 applies this.
    """
    return replace(spec, segment_by=("run_id", *spec.segment_by))


def hypertable_ddl(spec: HypertableSpec) -> list[str]:
    """The statements that turn ``spec.table`` into a compressed hypertable (idempotent)."""
    statements = [
        f"SELECT create_hypertable('{spec.table}', '{spec.time_column}', "
        f"chunk_time_interval => INTERVAL '{spec.chunk_interval}', "
        "if_not_exists => TRUE, migrate_data => TRUE)"
    ]
    return statements + compression_ddl(spec)


def compression_ddl(spec: HypertableSpec) -> list[str]:
    """The statements that enable compression of a hypertable and schedule it (idempotent)."""
    if spec.compress_after is None:
        return []
    return [
        f"ALTER TABLE {spec.table} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{', '.join(spec.segment_by)}', "
        f"timescaledb.compress_orderby = '{spec.time_column} DESC')",
        f"SELECT add_compression_policy('{spec.table}', INTERVAL '{spec.compress_after}', "
        "if_not_exists => TRUE)",
    ]


def decompression_ddl(spec: HypertableSpec) -> list[str]:
    """The statements that decompress every chunk of a hypertable and disable compression.

    TimescaleDB cannot create a unique constraint (a new primary key) on compressed chunks,
    nor change the segmenting of a table that has some: a migration doing either runs these
    first and :func:`compression_ddl` after.
    """
    if spec.compress_after is None:
        return []
    return [
        f"SELECT remove_compression_policy('{spec.table}', if_exists => TRUE)",
        f"SELECT decompress_chunk(show_chunks('{spec.table}'), TRUE)",
        f"ALTER TABLE {spec.table} SET (timescaledb.compress = FALSE)",
    ]


def all_hypertable_ddl() -> list[str]:
    """DDL for every table in :data:`HYPERTABLES`, in order."""
    return [statement for spec in HYPERTABLES for statement in hypertable_ddl(spec)]
