"""Steps that migrations share; imported only by files under ``backend/migrations``."""

import logging
from collections.abc import Sequence

from alembic import context, op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db.timescale import EXTENSION, all_hypertable_ddl

logger = logging.getLogger(__name__)


def timescaledb_enabled() -> bool:
    """Create the TimescaleDB extension if this database can have it; report whether it can.

    Offline (``--sql``) there is no database to ask, so ``-x timescaledb=true`` decides.
    Online, ``-x timescaledb=false`` forces plain tables. A server that lists the extension
    but cannot load it (not in ``shared_preload_libraries``) falls back to plain tables.
    """
    forced = context.get_x_argument(as_dictionary=True).get("timescaledb")
    if context.is_offline_mode():
        return forced == "true"
    if forced == "false":
        return False
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    query = text("SELECT 1 FROM pg_available_extensions WHERE name = :name")
    if bind.execute(query, {"name": EXTENSION}).scalar() is None:
        logger.info("TimescaleDB is not installed on this server: time-series tables stay plain")
        return False
    try:
        with bind.begin_nested():
            bind.execute(text(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}"))
    except DBAPIError as exc:
        logger.warning(
            "TimescaleDB is installed but cannot be enabled (%s): plain tables", exc.orig
        )
        return False
    return True


def create_hypertables() -> bool:
    """Turn the time-series tables into hypertables when TimescaleDB is available.

    Returns:
        True if hypertables were created.
    """
    if not timescaledb_enabled():
        return False
    for statement in all_hypertable_ddl():
        op.execute(statement)
    return True


def existing_hypertables(tables: Sequence[str]) -> list[str]:
    """Which of ``tables`` are hypertables here (never creates the extension).

    Offline (``--sql``) there is no database to ask: with ``-x timescaledb=true`` all of them
    are assumed to be, as :func:`create_hypertables` would have made them.
    """
    if context.is_offline_mode():
        forced = context.get_x_argument(as_dictionary=True).get("timescaledb")
        return list(tables) if forced == "true" else []
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return []
    query = text("SELECT 1 FROM pg_extension WHERE extname = :name")
    if bind.execute(query, {"name": EXTENSION}).scalar() is None:
        return []
    names = set(
        bind.execute(
            text("SELECT hypertable_name FROM timescaledb_information.hypertables")
        ).scalars()
    )
    return [table for table in tables if table in names]
