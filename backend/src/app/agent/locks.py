"""Account locks: two replicas on one PostgreSQL never trade the same account.

Each account's loop holds a session-level PostgreSQL advisory lock on a dedicated
connection for as long as it trades. A replica that cannot take the lock stands by; one
whose lock connection dies stops trading that account before its next cycle. On a SQLite
file the lock is an exclusive ``flock`` on ``<database>.lock`` beside it, held by one
process for all its accounts: SQLite has one writer at a time, so a second process on the
same file stands by for every account. Only an in-memory database (one process by
definition) is always granted.
"""

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.errors import translate_connection_errors

logger = logging.getLogger(__name__)


def lock_key(account_id: str) -> int:
    """A stable signed 64-bit key for the account (``pg_try_advisory_lock`` takes a bigint)."""
    digest = hashlib.blake2b(f"trading-agent:{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AccountLock(Protocol):
    """A held lock."""

    async def alive(self) -> bool:
        """True while the lock is still held."""
        ...

    async def release(self) -> None:
        """Give the lock up."""
        ...


class AccountLocks(Protocol):
    """Hands out account locks."""

    async def acquire(self, account_id: str) -> AccountLock | None:
        """The lock, or None when another holder has it."""
        ...


class _HeldLocally:
    async def alive(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class LocalAccountLocks:
    """Single-process locks (an in-memory database): always granted."""

    async def acquire(self, account_id: str) -> AccountLock | None:
        """Always the lock."""
        return _HeldLocally()


class _PostgresLock:
    def __init__(self, connection: AsyncConnection, key: int) -> None:
        self._connection = connection
        self._key = key

    async def alive(self) -> bool:
        # A session-level advisory lock lives exactly as long as its session: if the
        # connection still answers, the lock is still ours.
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("account lock connection lost: %s", exc)
            return False
        return True

    async def release(self) -> None:
        try:
            await self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
            )
            await self._connection.commit()
        except (SQLAlchemyError, OSError):
            pass  # a dead connection released it already
        finally:
            await self._connection.close()


class PostgresAccountLocks:
    """Session-level advisory locks, one dedicated connection per held account."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def acquire(self, account_id: str) -> AccountLock | None:
        """Try the account's advisory lock without waiting."""
        key = lock_key(account_id)
        # Outside a session: say DatabaseUnavailable for a lost database, as sessions do,
        # so the loop and the supervisor tell outages from bugs without knowing the driver.
        with translate_connection_errors():
            connection = await self._engine.connect()
            try:
                got = await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                )
                await connection.commit()
            except BaseException:
                await connection.close()
                raise
        if not got:
            await connection.close()
            return None
        return _PostgresLock(connection, key)


class _FileLock:
    def __init__(self, owner: "FileAccountLocks") -> None:
        self._owner = owner
        self._released = False

    async def alive(self) -> bool:
        return self._owner.still_held()

    async def release(self) -> None:
        if not self._released:
            self._released = True
            self._owner.give_back()


class FileAccountLocks:
    """One exclusive ``flock`` on a lock file per process, shared by all its accounts.

    The kernel drops the lock when the process dies (even on ``kill -9``), so a crashed
    instance never leaves a stale lock behind, and a standby takes over on its next retry.
    The file holds the owner's pid, for the operator who wonders who trades.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._holders = 0

    async def acquire(self, account_id: str) -> AccountLock | None:
        """The process-wide lock (taken now if this process does not hold it yet), or None.

        Raises:
            OSError: The lock file cannot be created or opened.
        """
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            logger.info("database lock %s taken: this instance trades its accounts", self.path)
        self._holders += 1
        return _FileLock(self)

    def still_held(self) -> bool:
        """False once the lock file was removed or replaced (another instance could lock it)."""
        if self._fd is None:
            return False
        try:
            ours, current = os.fstat(self._fd), os.stat(self.path)
        except OSError:
            return False
        return (ours.st_dev, ours.st_ino) == (current.st_dev, current.st_ino)

    def give_back(self) -> None:
        """Release one account's hold; the file lock goes with the last one."""
        self._holders -= 1
        if self._holders == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def account_locks(engine: AsyncEngine) -> AccountLocks:
    """The account locks that fit the engine's database.

    PostgreSQL: advisory locks per account. A SQLite file: ``FileAccountLocks`` on
    ``<database>.lock``. An in-memory SQLite database (or a ``file:`` URI, whose path
    SQLite resolves itself): always granted.
    """
    if engine.dialect.name == "postgresql":
        return PostgresAccountLocks(engine)
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        return FileAccountLocks(Path(f"{database}.lock"))
    return LocalAccountLocks()


def replica_locks(engine: AsyncEngine) -> AccountLocks:
    """Locks that tell a live replica's work from a dead one's, on any database.

    PostgreSQL: advisory locks, as for accounts (the lock of a process that died is gone
    with its connection). Anything else (a SQLite file has one process serving it, the
    account lock sees to that): always granted, so whatever is unlocked is taken as left
    behind by a previous process.
    """
    if engine.dialect.name == "postgresql":
        return PostgresAccountLocks(engine)
    return LocalAccountLocks()
