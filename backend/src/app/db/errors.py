"""Telling a database that cannot be reached from a query that is wrong.

Drivers report a refused, lost or timed-out connection in many shapes: a bare
``ConnectionRefusedError`` from asyncpg's connect (SQLAlchemy passes non-DBAPI errors
through), SQLAlchemy's ``InterfaceError`` / ``OperationalError`` wrapping an asyncpg error
with ``connection_invalidated`` set, asyncpg's own ``ConnectionDoesNotExistError`` or
``CannotConnectNowError``, a ``TimeoutError`` on connect, a pool timeout.
:func:`is_connection_error` recognises all of them by walking the exception chain;
:func:`translate_connection_errors` turns them into
:class:`~app.core.errors.DatabaseUnavailable` (retry later) and leaves every other error
(a unique violation, a syntax error, a bug) as it is.

:class:`OutageLog` keeps an outage to a few log lines: requests fail fast and often while the
database is away, and a warning with a traceback for each would bury everything else.
"""

import errno
import logging
import os
import socket
import ssl
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import DatabaseError, DatabaseUnavailable, MigrationError

logger = logging.getLogger(__name__)

# Socket errors of a path to the server that is down, not of a request that is wrong.
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENETRESET,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENOTCONN,
    }
)
# PostgreSQL SQLSTATEs of a server that refuses or drops connections for now (class 08, the
# connection exceptions, is matched as a whole). 57014 (query cancelled) is deliberately absent.
_UNAVAILABLE_STATES = {
    "57P01": "the server is shutting down",
    "57P02": "the server is restarting after a crash",
    "57P03": "the server is not accepting connections yet",
    "53300": "too many connections",
}
# Exceptions whose causes are followed: the database stack's own and the standard library's.
# An exchange or HTTP error caused by a refused socket is not a database outage.
_DATABASE_STACK = frozenset({"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "builtins", "socket"})


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (refused, lost, timed out).

    Follows ``__cause__``, ``__context__`` and SQLAlchemy's ``orig`` through the database
    stack. False for errors of the query or the data (unique violations, syntax errors,
    authentication) and for :class:`~app.core.errors.MigrationError`.
    """
    return connection_failure(exc) is not None


def connection_failure(exc: BaseException) -> str | None:
    """What went wrong with the connection, in a few words ("connection refused"), or None.

    None when ``exc`` is not a connection error (see :func:`is_connection_error`).
    """
    found = _failure(exc)
    return found[1] if found is not None else None


def database_unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The :class:`DatabaseUnavailable` for the connection error ``exc`` (raise it from ``exc``).

    The detail names the failure and the driver's exception class, never the host or the
    statement: it reaches API clients.
    """
    if isinstance(exc, DatabaseUnavailable):
        return exc
    link, reason = _failure(exc) or (exc, "connection failed")
    return DatabaseUnavailable(f"database unavailable: {reason} ({link.__class__.__name__})")


@contextmanager
def translate_connection_errors() -> Iterator[None]:
    """Re-raise a connection error leaving the block as :class:`DatabaseUnavailable`.

    Every other exception leaves unchanged.
    """
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        raise database_unavailable(exc) from exc


def describe(exc: BaseException) -> str:
    """One line for the log: the failure and the driver's own message (its first line)."""
    link, reason = _failure(exc) or (exc, "error")
    lines = str(link).strip().splitlines()
    return f"{reason}: {link.__class__.__name__}: {lines[0] if lines else ''}"[:300].rstrip(": ")


class OutageLog:
    """A database outage in a few log lines: when it starts, now and then, when it ends.

    Args:
        every_s: Least time between two "still unavailable" lines.
        monotonic: The clock (seconds).
    """

    def __init__(
        self, *, every_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_s = every_s
        self._monotonic = monotonic
        self._since: float | None = None
        self._last_line = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        """True from the first failure until the database answers again."""
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """One more failure; logged when it is the first, or ``every_s`` after the last line."""
        now = self._monotonic()
        self._failures += 1
        if self._since is None:
            self._since = self._last_line = now
            logger.warning(
                "database unavailable (%s); failing fast until it is back, "
                "one line per %.0f s meanwhile",
                describe(exc),
                self._every_s,
            )
        elif now - self._last_line >= self._every_s:
            self._last_line = now
            logger.warning(
                "database still unavailable after %.0f s (%s); %d failures so far",
                now - self._since,
                describe(exc),
                self._failures,
            )

    def succeeded(self) -> None:
        """The database answered: end the outage (logged once)."""
        if self._since is None:
            return
        logger.info(
            "database back after %.1f s (%d failures meanwhile)",
            self._monotonic() - self._since,
            self._failures,
        )
        self._since, self._failures = None, 0

    def _checked_out(self, *_args: Any) -> None:
        # A pool checkout happens only once pre-ping (or a fresh connect) succeeded.
        self.succeeded()


_LOGS: "weakref.WeakKeyDictionary[Engine, OutageLog]" = weakref.WeakKeyDictionary()


def outage_log(engine: AsyncEngine) -> OutageLog:
    """The engine's :class:`OutageLog`, ended by the first successful pool checkout."""
    sync = engine.sync_engine
    log = _LOGS.get(sync)
    if log is None:
        log = _LOGS[sync] = OutageLog()
        event.listen(sync, "checkout", log._checked_out)
    return log


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes (``__cause__``, ``__context__``, ``orig``), outermost first."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        if not _follows_causes(link):
            continue
        context = None if link.__suppress_context__ else link.__context__
        for cause in (link.__cause__, getattr(link, "orig", None), context):
            if isinstance(cause, BaseException):
                pending.append(cause)


def _follows_causes(link: BaseException) -> bool:
    if isinstance(link, MigrationError | BaseExceptionGroup) or not isinstance(link, Exception):
        return False
    if isinstance(link, DatabaseError):
        return True
    return link.__class__.__module__.partition(".")[0] in _DATABASE_STACK


def _failure(exc: BaseException) -> tuple[BaseException, str] | None:
    """The deepest link of the chain that is a connection failure, and that failure."""
    found: tuple[BaseException, str] | None = None
    for link in _chain(exc):
        reason = _link_failure(link)
        if reason is not None:
            found = (link, reason)  # deeper links are the driver's own, the most specific
    return found


def _link_failure(link: BaseException) -> str | None:
    """The connection failure ``link`` itself stands for, or None."""
    if isinstance(link, DatabaseUnavailable):
        return link.detail.removeprefix("database unavailable: ")
    if isinstance(link, BaseExceptionGroup):
        reasons = [connection_failure(member) for member in link.exceptions]
        return reasons[0] if reasons and all(reasons) else None
    if isinstance(link, OSError):
        return _socket_failure(link)
    if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
        return "connection lost"
    if isinstance(link, sa_exc.DisconnectionError):
        return "connection lost"
    if isinstance(link, sa_exc.TimeoutError):
        return "timed out waiting for a pooled connection"
    sqlstate = getattr(link, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate.startswith("08"):
            return "connection lost"
        return _UNAVAILABLE_STATES.get(sqlstate)
    if isinstance(link, asyncpg.InterfaceError) and "connection is closed" in str(link):
        return "connection lost"
    return None


def _socket_failure(link: OSError) -> str | None:
    if isinstance(link, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "connection lost"
    if isinstance(link, ssl.SSLError):
        return None  # certificates, protocol versions: configuration, not an outage
    if isinstance(link, socket.gaierror):
        return "host name lookup failed"
    if isinstance(link, TimeoutError):
        return "timed out"
    if isinstance(link, ConnectionRefusedError):
        return "connection refused"
    if isinstance(link, ConnectionError):
        return "connection lost"
    if link.errno in _NETWORK_ERRNOS:
        return os.strerror(link.errno).lower()
    # asyncio's connect to a name with several addresses, all refusing, says so without errno.
    if link.errno is None and str(link).startswith("Multiple exceptions"):
        return "connection failed"
    return None
