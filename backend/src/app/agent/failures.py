"""What a failed step means for the loop, and journal writes that wait out a database outage.

The failure model (docs/agent-runtime.md has the table):

- **Transient** failures of the exchange (network, 5xx, 429/418, unknown order outcomes,
  malformed replies), of the database (connection lost, refused, timed out) and of the LLM
  (handled inside the provider: the cycle holds) never stop a loop: the cycle is recorded
  and retried within seconds, protection first.
- **Permanent** failures stop the account, with a journaled ``agent.stopped`` event: bad
  exchange credentials, a configuration that cannot work, and anything unexpected (a bug).

Protection never waits on the journal: the writes that follow an order the exchange may
already hold (its status, its fills, protection intents, events) go through a
:class:`JournalBacklog`, which keeps them in order while the database is away and writes
them once it is back. Nothing the exchange did is lost meanwhile: order statuses and fills
are also repaired from the exchange (:mod:`app.agent.guardian`, the fill cursor).
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.core.errors import ConfigError, DatabaseError, MigrationError
from app.exchange.errors import ExchangeAuthError, ExchangeError
from app.llm.errors import LlmError

logger = logging.getLogger(__name__)
MAX_BACKLOG = 10_000


class ProtectionPending(ExchangeError):
    """A position may be unprotected and the exchange could not settle it now.

    Transient: the loop checks the position's protection again within seconds.
    """


def is_database_outage(exc: BaseException) -> bool:
    """True for a database that cannot be reached now (not for a bad query or schema).

    Adapters raise :class:`~app.core.errors.DatabaseUnavailable` for a lost database
    (sessions and the replica lock translate the driver's errors), so this needs no driver.
    """
    if isinstance(exc, MigrationError):
        return False
    return isinstance(exc, (DatabaseError, ConnectionError, TimeoutError)) or (
        isinstance(exc, OSError) and exc.errno is not None
    )


def is_transient(exc: BaseException) -> bool:
    """Whether retrying can fix ``exc`` (see the module docstring)."""
    if isinstance(exc, (ExchangeAuthError, ConfigError)):
        return False
    # Every other exchange failure is retried: a refusal of one request (a leverage change,
    # a malformed reply) must not cost every position its guard.
    return isinstance(exc, (ExchangeError, LlmError)) or is_database_outage(exc)


@dataclass(frozen=True, slots=True)
class _Write:
    what: str
    write: Callable[[], Awaitable[object]]


class JournalBacklog:
    """Journal writes that must not fail the step that asked for them.

    :meth:`write` runs a write now when nothing is waiting, else queues it behind the
    waiting ones (a status never overtakes its intent); a write that fails on a database
    outage is queued too. :meth:`flush` retries the queue in order at every cycle.
    """

    def __init__(self) -> None:
        self._waiting: list[_Write] = []

    def __len__(self) -> int:
        return len(self._waiting)

    async def write(self, what: str, write: Callable[[], Awaitable[object]]) -> bool:
        """Write now, or queue the write for later; True when it is written."""
        if self._waiting and not await self.flush():
            self._queue(_Write(what, write))
            return False
        try:
            await write()
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            logger.warning("journal write deferred (%s): %s", what, exc)
            self._queue(_Write(what, write))
            return False
        return True

    async def flush(self) -> bool:
        """Write what waits, oldest first; True when nothing is left waiting."""
        while self._waiting:
            head = self._waiting[0]
            try:
                await head.write()
            except Exception as exc:
                if not is_database_outage(exc):
                    # A write that can never succeed must not block every later one.
                    logger.exception("journal write dropped (%s)", head.what)
                    self._waiting.pop(0)
                    continue
                return False
            self._waiting.pop(0)
        return True

    def _queue(self, item: _Write) -> None:
        if len(self._waiting) >= MAX_BACKLOG:
            dropped = self._waiting.pop(0)
            logger.error("journal backlog full; dropped the oldest write (%s)", dropped.what)
        self._waiting.append(item)
