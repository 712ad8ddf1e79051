"""The hypertable DDL the migrations emit when TimescaleDB is present."""

from app.db.registry import metadata
from app.db.timescale import HYPERTABLES, HypertableSpec, all_hypertable_ddl, hypertable_ddl


def test_every_hypertable_partitions_on_a_column_of_every_unique_index() -> None:
    # TimescaleDB refuses unique constraints that omit the partitioning column.
    for spec in HYPERTABLES:
        table = metadata.tables[spec.table]
        assert spec.time_column in table.primary_key.columns, spec.table
        for constraint in table.constraints:
            columns = getattr(constraint, "columns", None)
            if columns is not None and constraint.__class__.__name__ == "UniqueConstraint":
                assert spec.time_column in columns, (spec.table, constraint.name)
        for column in spec.segment_by:
            assert column in table.columns, (spec.table, column)


def test_ddl_creates_a_compressed_hypertable() -> None:
    spec = HypertableSpec("candles", "open_time", "30 days", ("symbol", "interval"))

    statements = hypertable_ddl(spec)

    assert statements == [
        "SELECT create_hypertable('candles', 'open_time', chunk_time_interval => "
        "INTERVAL '30 days', if_not_exists => TRUE, migrate_data => TRUE)",
        "ALTER TABLE candles SET (timescaledb.compress, timescaledb.compress_segmentby = "
        "'symbol, interval', timescaledb.compress_orderby = 'open_time DESC')",
        "SELECT add_compression_policy('candles', INTERVAL '30 days', if_not_exists => TRUE)",
    ]


def test_compression_can_be_left_off() -> None:
    spec = HypertableSpec("agent_events", "occurred_at", "7 days", (), compress_after=None)

    assert len(hypertable_ddl(spec)) == 1


def test_all_time_series_tables_are_covered() -> None:
    tables = {spec.table for spec in HYPERTABLES}

    assert tables == {
        "candles",
        "indicator_snapshots",
        "position_snapshots",
        "equity_snapshots",
        "agent_events",
    }
    ddl = all_hypertable_ddl()
    assert sum("create_hypertable" in s for s in ddl) == len(tables)
    assert not any("time_bucket" in s for s in ddl)
