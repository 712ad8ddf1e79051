"""Runs a process that is gone left going: found at start-up, and every minute after.

Replicas on one PostgreSQL share the runs' rows. Each run holds an advisory lock (its own
key, on a dedicated connection) for as long as it goes, so a replica finds out which
recorded runs are still going somewhere (locked) and which were left behind by a process
that is gone (unlocked, its lock went with its connection): only those are marked failed.
Without PostgreSQL the locks are always granted (one process per database), so every run
recorded as going that this process did not start is taken as left behind.
"""

import asyncio
import logging
from collections.abc import Callable, Container
from typing import Final

from app.agent.locks import AccountLock, AccountLocks
from app.backtest import store
from app.core.clock import Clock
from app.db.session import SessionFactory, session_scope

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S: Final = 60.0
"""How often a running service looks for runs a replica that died left going."""

INTERRUPTED: Final = "interrupted: the service stopped during the run"
"""The error of a run marked failed here."""


def run_lock_name(run_id: str) -> str:
    """The name of a run's lock (its own key, apart from every account's)."""
    return f"backtest-run:{run_id}"


class AbandonedRuns:
    """Marks failed the recorded runs nobody is going with any more.

    Args:
        sessions: Where the runs are recorded.
        locks: The runs' locks (:func:`app.agent.locks.replica_locks`).
        clock: The time written as their end.
        going: The ids of the runs this process is going with (never marked).
    """

    def __init__(
        self,
        sessions: SessionFactory,
        locks: AccountLocks,
        clock: Clock,
        going: Callable[[], Container[str]],
    ) -> None:
        self._sessions = sessions
        self._locks = locks
        self._clock = clock
        self._going = going
        self._sweeper: asyncio.Task[None] | None = None

    async def mark(self) -> int:
        """Mark the runs recorded as going whose lock nobody holds as failed.

        Returns:
            How many runs were marked.
        """
        async with session_scope(self._sessions) as session:
            recorded = await store.active_run_ids(session)
        going = self._going()
        left: list[tuple[str, AccountLock]] = []
        try:
            for run_id in recorded:
                if run_id in going:
                    continue
                lock = await self._locks.acquire(run_lock_name(run_id))
                if lock is not None:  # nobody holds it: its process is gone
                    left.append((run_id, lock))
            async with session_scope(self._sessions) as session:
                count = await store.interrupt(
                    session, [run_id for run_id, _ in left], self._clock.now(), INTERRUPTED
                )
        finally:
            for _, lock in left:
                await lock.release()
        if count:
            logger.warning("%d backtest run(s) were interrupted by a restart", count)
        return count

    def sweep(self, every_s: float = SWEEP_INTERVAL_S) -> None:
        """:meth:`mark` every ``every_s`` from now on, until :meth:`aclose`.

        A replica that dies while the others keep running leaves its runs going in the
        database; its lock went with it, so the next sweep of a live replica marks them.
        """
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(every_s), name="backtest sweeper")

    async def aclose(self) -> None:
        """Stop sweeping."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def _sweep(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.mark()
            except Exception as exc:  # a database outage: the next sweep tries again
                logger.warning("looking for abandoned backtests failed: %r", exc)
