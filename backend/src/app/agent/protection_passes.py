"""The loop's protection passes: recovery before the first cycle, and guard passes.

Mixed into :class:`~app.agent.loop.AgentLoop`. Both need the exchange, not the database:
protection (a stop for every position) runs even while the journal is away, and what the
journal could not take is written later.
"""

import asyncio
from collections.abc import Collection
from datetime import datetime

from app.agent.execution import Executor
from app.agent.failures import is_database_outage
from app.agent.fills import FillRecorder
from app.agent.guardian import Guardian, GuardReport
from app.agent.ports import Journal
from app.agent.recovery import fills_since, load_theses, record_recovery
from app.agent.theses import Theses
from app.core.clock import Clock
from app.exchange.ports import AccountState, Exchange


class ProtectionPasses:
    """Recovery and guard passes over the loop's own parts (declared here, set by the loop)."""

    _tick_lock: asyncio.Lock
    _clock: Clock
    _exchange: Exchange
    _journal: Journal
    _executor: Executor
    _guardian: Guardian
    _fills: FillRecorder
    _theses: Theses
    _restored: bool

    @property
    def account_id(self) -> str:
        """The account the loop trades."""
        raise NotImplementedError

    @property
    def thesis_vocabulary(self) -> tuple[Collection[str], Collection[str]]:
        """The features and intervals a stored invalidation condition may name."""
        raise NotImplementedError

    async def recover(self) -> GuardReport:
        """Before the first cycle: theses, in-flight orders, missed fills, protection.

        See :mod:`app.agent.recovery`; safe to run again (everything is idempotent).
        """
        account, now = self.account_id, self._clock.now()
        report = GuardReport()
        try:
            # Orders first: an entry filled before a crash only becomes the thesis of its
            # position once the journal knows it filled.
            self._fills.since = await fills_since(self._journal, account, self._fills.since)
            orders = await self._exchange.open_orders()
            await self._guardian.reconcile_orders(now, report, orders)
            fills = await self._fills.record()
            state = await self._exchange.account_state()
            missing = [s for s in state.positions if s not in self._theses]
            features, intervals = self.thesis_vocabulary
            self._theses.restore(
                await load_theses(
                    self._journal, account, missing, features=features, intervals=intervals
                )
            )
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # No journal to tell our positions from others': a stop for each, then wait.
            orders = await self._exchange.open_orders()
            state = await self._exchange.account_state()
            await self._guardian.bridge(state, self._theses, now, report, orders)
            raise
        await self._guardian.guard(state, self._theses, now, report, orders)
        self._restored = True  # only now: a recovery cut short by the exchange runs again
        await record_recovery(self._journal, account, report, fills, now)
        return report

    async def guard_pass(self) -> GuardReport:
        """Between cycles, after a failure: journal backlog, fills, orders, protection.

        Needs the exchange, not the database: fills and order statuses the journal cannot
        take now are kept and written later, and protection is checked regardless.

        Raises:
            ProtectionPending: Some position's protection could not be settled.
            Exception: Whatever the exchange or the database raised (once protection ran).
        """
        async with self._tick_lock:
            if not self._restored:
                return await self.recover()
            guarded, _state = await self._guard(self._clock.now())
            return guarded

    async def _guard(self, now: datetime) -> tuple[GuardReport, AccountState]:
        """Record fills, reconcile orders, guard protection; the journal's failures last.

        Protection runs even when the journal is away; the first database failure is raised
        once it has.
        """
        guarded = GuardReport()
        deferred: Exception | None = None
        try:
            await self._executor.backlog.flush()
            await self._fills.record()
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            deferred = exc
        orders = await self._exchange.open_orders()
        if deferred is None:
            try:
                await self._guardian.reconcile_orders(now, guarded, orders)
            except Exception as exc:
                if not is_database_outage(exc):
                    raise
                deferred = exc
        state = await self._exchange.account_state()
        await self._guardian.guard(state, self._theses, now, guarded, orders)
        if guarded.flattened:  # positions changed: read the account again
            state = await self._exchange.account_state()
        if deferred is not None:
            raise deferred
        return guarded, state
