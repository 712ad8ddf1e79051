"""Account locks: two replicas on one PostgreSQL never trade the same account.

Each account's loop holds a session-level PostgreSQL advisory lock on a dedicated
connection for as long as it trades. A replica that cannot take the lock stands by; one
whose lock connection dies stops trading that account before its next cycle. The embedded
SQLite default serves a single process, so its lock is always granted.
"""

import hashlib
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
    """Single-process locks (the SQLite default): always granted."""

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
        connection = await self._engine.connect()
        try:
            got = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not got:
            await connection.close()
            return None
        return _PostgresLock(connection, key)
