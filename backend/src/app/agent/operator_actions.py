"""What an operator can do to a running account between cycles: kill, close, cancel.

Mixed into :class:`~app.agent.loop.AgentLoop`: each action holds the loop's cycle lock, so
it never interleaves with a cycle, and keeps the loop's theses, fills and journal straight.
"""

import asyncio
import logging
from datetime import datetime

from app.agent.execution import Executor
from app.agent.failures import is_database_outage
from app.agent.fills import FillRecorder
from app.agent.guardian import Guardian, GuardReport
from app.agent.ports import Journal
from app.agent.theses import Theses
from app.core.clock import Clock
from app.exchange.ports import AccountState, Exchange

logger = logging.getLogger(__name__)


class OperatorActions:
    """Operator actions over the loop's own parts (declared here, set by the loop)."""

    _tick_lock: asyncio.Lock
    _clock: Clock
    _exchange: Exchange
    _journal: Journal
    _executor: Executor
    _fills: FillRecorder
    _theses: Theses
    _guardian: Guardian

    @property
    def symbols(self) -> list[str]:
        """The symbols the account trades."""
        raise NotImplementedError

    async def _snapshot(self, now: datetime, state: AccountState | None = None) -> None:
        raise NotImplementedError

    async def kill(self, *, flatten: bool, reason: str) -> None:
        """Kill switch: cancel every open order and, with ``flatten``, close every position."""
        async with self._tick_lock:
            now = self._clock.now()
            closed = await self._executor.kill(
                self.symbols, flatten=flatten, reason=reason, now=now
            )
            for symbol in closed:
                self._theses.drop(symbol)
            await self._fills.record()
            await self._record_orders(now)
            await self._snapshot(now)

    async def _record_orders(self, now: datetime) -> None:
        """Write the exchange's word on every journaled open order now.

        A halted or paused account runs no protection pass to do it, and the exchange drops
        a closed position's close-position stops by itself: without this, the account's open
        orders (on the API, on the dashboard) would stay orders the exchange no longer holds.
        """
        try:
            orders = await self._exchange.open_orders()
            await self._guardian.reconcile_orders(now, GuardReport(), orders)
        except Exception as exc:
            if not is_database_outage(exc):
                raise
            # Done at the exchange; the next protection pass or start reconciles the journal.
            logger.warning("orders not journaled now (database away): %s", exc)

    async def close_symbol(self, symbol: str, reason: str) -> bool:
        """Close one position at market (reduce-only) and cancel its protection.

        Returns False when there is no such position.
        """
        async with self._tick_lock:
            now = self._clock.now()
            position = (await self._exchange.account_state()).positions.get(symbol)
            if position is None:
                return False
            if await self._executor.close_position(position, "api", now):
                self._theses.drop(symbol)
                await self._executor.event(
                    "position.closed",
                    f"{symbol}: closed by an operator: {reason}",
                    payload={"symbol": symbol, "reason": reason},
                )
            else:  # its thesis and protection stay
                await self._executor.event(
                    "position.close_failed",
                    f"{symbol}: the operator's close did not fill; the position stays protected",
                    severity="warning",
                    payload={"symbol": symbol, "reason": reason},
                )
            await self._fills.record()
            await self._record_orders(now)  # a paused account runs no pass either
            return True

    async def cancel_order(self, client_order_id: str) -> bool:
        """Cancel one open order; False when no open order has that client id."""
        async with self._tick_lock:
            for order in await self._exchange.open_orders():
                if order.client_order_id == client_order_id:
                    await self._exchange.cancel_order(order.symbol, client_order_id)
                    found = await self._exchange.find_order(order.symbol, client_order_id)
                    await self._journal.order_update(found, client_order_id, self._clock.now())
                    return True
            return False
