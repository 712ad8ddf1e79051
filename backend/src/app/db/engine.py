"""Engine creation for PostgreSQL (asyncpg) and the embedded SQLite default (aiosqlite)."""

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0  # a PostgreSQL server that does not answer within this is down
# The SQLite file holds prompts, model replies and events: the owner's alone.
SQLITE_DIRECTORY_MODE = 0o700
SQLITE_FILE_MODE = 0o600


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for ``url`` (already normalised by the settings).

    For SQLite the file and its missing directories are created private (600 and 700),
    foreign keys are enforced, WAL journaling lets the dashboard read while the agent
    writes, and connections are pooled.
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
        _private_sqlite_file(Path(database).expanduser())
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


def _private_sqlite_file(path: Path) -> None:
    """Create the database file (600) and its missing directories (700) before SQLite does.

    SQLite would create the file with the umask (usually 644, readable by every local user);
    it creates the ``-wal`` and ``-shm`` files with the database file's own mode, so they
    follow. An existing database (and its ``-wal``/``-shm``) is narrowed to 600 too; an
    existing directory is left as it is, since it may hold more than the database.
    """
    missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=SQLITE_DIRECTORY_MODE, exist_ok=True)
        directory.chmod(SQLITE_DIRECTORY_MODE)  # mkdir's mode passes through the umask
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, SQLITE_FILE_MODE))
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        try:
            if file.exists() and file.stat().st_mode & 0o777 != SQLITE_FILE_MODE:
                file.chmod(SQLITE_FILE_MODE)
        except OSError as exc:  # someone else's file: usable, but say it is readable
            logger.warning("cannot make %s private (mode 600): %s", file, exc)
