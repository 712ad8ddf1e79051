"""Fills from the exchange into the journal: each once, none lost to a database outage."""

from collections.abc import Sequence
from datetime import datetime

from app.agent import order_ids
from app.agent.ports import Journal
from app.agent.sending import OrderSender
from app.exchange.ports import Exchange, Execution
from app.trading.risk import record_stop_out


class FillRecorder:
    """Journals one account's new fills, raises liquidation events, starts stop-out cool-downs.

    Args:
        account_id: The account.
        exchange: Its exchange port (hands each fill over once, from ``since`` on).
        journal: The journal.
        sender: For events and writes that wait out a database outage.
        since: Fills before this time are already journaled.
    """

    def __init__(
        self,
        account_id: str,
        exchange: Exchange,
        journal: Journal,
        sender: OrderSender,
        since: datetime,
    ) -> None:
        self._account = account_id
        self._exchange = exchange
        self._journal = journal
        self._sender = sender
        self.since = since
        """The exchange's fill cursor (recovery moves it back to the journal's newest fill)."""
        self._unjournaled: list[Execution] = []
        # Fills at the cursor's time come back at every look (the cursor is inclusive, so
        # none is missed): those already journaled are not written again.
        self._journaled: dict[tuple[str, str], datetime] = {}
        self.recorded = 0
        """How many new fills were journaled so far."""

    async def record(self) -> int:
        """Journal new fills; returns how many were new.

        The exchange hands each fill over once, so a fill the journal cannot take now stays
        here until it can: the cursor moves on, the fill is not lost.
        """
        executions = await self._exchange.executions(self.since)
        # One pass: most cycles it only sees the fills at the cursor, journaled already.
        newest = self.since
        for execution in executions:
            if execution.time > newest:
                newest = execution.time
            if (execution.symbol, execution.trade_id) not in self._journaled:
                self._unjournaled.append(execution)
        self.since = newest
        if not self._unjournaled:
            return 0
        added = await self._journal.fills(self._account, self._unjournaled)
        for execution in self._unjournaled:
            self._journaled[(execution.symbol, execution.trade_id)] = execution.time
        self._journaled = {k: t for k, t in self._journaled.items() if t >= self.since}
        self._unjournaled = []
        self.recorded += len(added)
        for execution in added:
            if order_ids.is_forced_close(execution.client_order_id):
                await self._sender.event(
                    "position.liquidated",
                    f"{execution.symbol}: the exchange closed {execution.quantity} at "
                    f"{execution.price} ({execution.client_order_id})",
                    severity="critical",
                    payload={"symbol": execution.symbol, "trade_id": execution.trade_id},
                )
        stops = [e for e in added if order_ids.is_stop_loss(e.client_order_id)]
        if stops:
            await self._sender.backlog.write("stop-out", lambda: self._stop_outs(stops))
        return len(added)

    async def _stop_outs(self, stops: Sequence[Execution]) -> None:
        """Start the stop-out cool-down of each stopped-out symbol."""
        risk = await self._journal.risk_state(self._account)
        if risk is not None:
            for execution in stops:
                risk = record_stop_out(risk, execution.symbol, execution.time)
            await self._journal.save_risk_state(self._account, risk, at=stops[-1].time)
