"""Engine creation for PostgreSQL (asyncpg) and the embedded SQLite default (aiosqlite)."""

from pathlib import Path
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

CONNECT_TIMEOUT_S = 5.0  # a PostgreSQL server that does not answer within this is down


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url`` (already normalised by the settings).

    For SQLite the parent directory is created, foreign keys are enforced, WAL journaling
    lets the dashboard read while the agent writes, and connections are pooled.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_driver_name() == "asyncpg":
            # asyncpg waits 60 s for a host that does not answer; a loop that re-checks
            # protection every few seconds during an outage must not hang that long on it.
            connect_args = dict(kwargs.get("connect_args", {}))
            connect_args.setdefault("timeout", CONNECT_TIMEOUT_S)
            kwargs["connect_args"] = connect_args
        return create_async_engine(url, **kwargs)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if database == ":memory:":
        kwargs.setdefault("poolclass", pool.StaticPool)
    elif "poolclass" not in kwargs:
        # Pooled: opening an aiosqlite connection (a thread, the pragmas) costs more than a
        # typical read; WAL lets the pooled readers and the agent's writer work side by side.
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
