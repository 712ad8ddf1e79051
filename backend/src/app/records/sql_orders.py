"""The orders and fills of the SQL journal: intents, exchange updates, fills, what is pending.

:class:`~app.records.sql_journal.SqlJournal` writes its orders here (its decisions, snapshots
and state beside them), as :class:`~app.records.memory_orders.MemoryOrderBook` does for the
memory journal. Each method is one short unit of work; the account's pending orders are read
from the database once, then kept in step with the writes, so no cycle reads them back.
"""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from app.agent.ports import IN_FLIGHT, OPEN, PendingOrder
from app.core.secrets import redact_optional
from app.db.session import SessionFactory, session_scope
from app.exchange.ports import Execution
from app.exchange.types import ExchangeOrder, OrderRequest
from app.records.journal_reads import JournalReads
from app.records.journal_rows import order_data, to_json
from app.records.publishing import JournalPublisher
from app.trading.models import Fill, Order


class SqlOrderBook(JournalReads):
    """Orders and fills in the database, of one run, with the account's pending orders cached.

    Args:
        sessions: Where to write.
        publisher: Streams what was written to the account's live channels (optional).
        run_id: The run every record belongs to (:mod:`app.trading.runs`).
    """

    def __init__(
        self, sessions: SessionFactory, publisher: JournalPublisher | None, run_id: str
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._run_id = run_id
        self._pending: dict[str, dict[str, PendingOrder]] = {}

    async def order_intent(
        self,
        account_id: str,
        leg_id: uuid.UUID | None,
        request: OrderRequest,
        purpose: str,
        at: datetime,
    ) -> None:
        """Write the order *before* it is sent (status ``intent``); idempotent on client id.

        Client ids are unique across runs (the column is), so the lookup needs no run.
        """
        async with session_scope(self._sessions) as session:
            existing = await session.scalar(
                select(Order).where(Order.client_order_id == request.client_order_id)
            )
            if existing is not None:
                return
            session.add(
                Order(
                    run_id=self._run_id,
                    client_order_id=request.client_order_id,
                    account_id=account_id,
                    decision_leg_id=leg_id,
                    symbol=request.symbol,
                    side=request.side.value,
                    type=request.type.value,
                    purpose=purpose,
                    quantity=request.quantity or Decimal(0),
                    price=request.price,
                    stop_price=request.stop_price,
                    reduce_only=request.reduce_only,
                    close_position=request.close_position,
                    working_type=request.working_type.value if request.working_type else None,
                    status="intent",
                    created_at=at,
                    updated_at=at,
                    status_history=[{"status": "intent", "at": at.isoformat()}],
                )
            )
        if account_id in self._pending:  # written: the account's pending orders gain it
            self._pending[account_id][request.client_order_id] = PendingOrder(
                request.client_order_id, request.symbol, "intent", purpose, at
            )
        if self._publisher is not None:
            self._publisher.order(
                account_id, "intent", to_json(request) | {"purpose": purpose}, at=at
            )

    async def order_update(
        self,
        order: ExchangeOrder | None,
        client_order_id: str,
        at: datetime,
        *,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what the exchange says about an order (or why it was not placed)."""
        error = redact_optional(error)
        async with session_scope(self._sessions) as session:
            row = await session.scalar(
                select(Order).where(
                    Order.run_id == self._run_id, Order.client_order_id == client_order_id
                )
            )
            if row is None:
                return
            new_status = status or (order.status.value if order else row.status)
            if order is not None:
                row.exchange_order_id = str(order.order_id)
                row.filled_quantity = order.executed_qty
                row.average_price = order.avg_price or None
            if error is not None:
                row.error = error
            if new_status == row.status:
                return
            row.status = new_status
            row.updated_at = at
            entry = {"status": new_status, "at": at.isoformat()}
            if error:
                entry["reason"] = error
            row.status_history = [*row.status_history, entry]
            data = order_data(row)
        self._note_status(data["account_id"], client_order_id, new_status)
        if self._publisher is not None:
            self._publisher.order(data["account_id"], new_status, data, at=at)

    def _note_status(self, account_id: str, client_order_id: str, status: str) -> None:
        """Keep the cached pending orders in step with a committed status change."""
        pending = self._pending.get(account_id)
        if pending is None or client_order_id not in pending:
            return
        if status in IN_FLIGHT + OPEN:
            pending[client_order_id] = replace(pending[client_order_id], status=status)
        else:
            del pending[client_order_id]

    async def pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first.

        Read from the database once, then kept in step with this journal's own writes (the
        account's loop is the only writer of its orders): no read at every cycle.
        """
        if account_id not in self._pending:
            loaded = await self._load_pending_orders(account_id)
            self._pending[account_id] = {p.client_order_id: p for p in loaded}
        return sorted(self._pending[account_id].values(), key=lambda p: p.intent_at)

    async def fills(self, account_id: str, executions: Sequence[Execution]) -> list[Execution]:
        """Store fills (idempotent on the exchange trade id); returns the new ones.

        Two queries for the whole batch (known trades, then the orders' row ids).
        """
        added: list[Execution] = []
        if not executions:
            return added
        async with session_scope(self._sessions) as session:
            known = {
                (symbol, trade_id)
                for symbol, trade_id in (
                    await session.execute(
                        select(Fill.symbol, Fill.trade_id).where(
                            Fill.run_id == self._run_id,
                            Fill.account_id == account_id,
                            Fill.trade_id.in_({e.trade_id for e in executions}),
                        )
                    )
                ).all()
            }
            order_ids = dict(
                (
                    await session.execute(
                        select(Order.client_order_id, Order.id).where(
                            Order.run_id == self._run_id,
                            Order.client_order_id.in_({e.client_order_id for e in executions}),
                        )
                    )
                )
                .tuples()
                .all()  # a list: a Result has keys(), which dict() would use
            )
            for execution in executions:
                key = (execution.symbol, execution.trade_id)
                if key in known:
                    continue
                known.add(key)
                session.add(
                    Fill(
                        run_id=self._run_id,
                        order_id=order_ids.get(execution.client_order_id),
                        account_id=account_id,
                        symbol=execution.symbol,
                        trade_id=execution.trade_id,
                        side=execution.side,
                        price=execution.price,
                        quantity=execution.quantity,
                        fee=execution.fee,
                        fee_asset=execution.fee_asset,
                        realized_pnl=execution.realized_pnl,
                        is_maker=execution.maker,
                        filled_at=execution.time,
                        created_at=execution.time,
                    )
                )
                added.append(execution)
        if self._publisher is not None and added:
            self._publisher.fills(account_id, added)
        return added
