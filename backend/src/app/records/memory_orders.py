"""The orders and fills of a memory journal: intents, exchange updates, fills, what is pending.

:class:`~app.records.memory_journal.MemoryJournal` keeps its orders here (its decisions,
snapshots and state beside them): the same shapes as the SQL journal's rows, every write a few
dictionary operations, and the indexes a loop reads at every cycle (the account's pending
orders, its newest fill) kept in step with the writes, so nothing scans the history.
"""

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.agent.ports import IN_FLIGHT, OPEN, PendingOrder
from app.core.secrets import redact_optional
from app.exchange.ports import Execution
from app.exchange.types import ExchangeOrder, OrderRequest
from app.records.journal_rows import to_json
from app.records.memory_records import (
    JournalFill,
    JournalIntegrityError,
    JournalOrder,
    _order_data,
    _utc,
)
from app.records.publishing import JournalPublisher

_PENDING = frozenset(IN_FLIGHT + OPEN)


class MemoryOrderBook:
    """Orders by client id and fills by trade, with the indexes the loop reads.

    Args:
        publisher: Streams every write, as the SQL journal does (optional).
        leg_exists: Whether a decision leg was journaled (an order may only reference one).
    """

    def __init__(
        self, publisher: JournalPublisher | None, leg_exists: Callable[[uuid.UUID], bool]
    ) -> None:
        self._publisher = publisher
        self._leg_exists = leg_exists
        self._orders: dict[str, JournalOrder] = {}  # by client id, in intent order
        # Per account, the client ids of orders whose outcome may still change (a dict as
        # an insertion-ordered set), so pending_orders never scans the whole history.
        self._pending: dict[str, dict[str, None]] = {}
        # Per (account, symbol), the client ids of entries tied to a leg, oldest first.
        self._entries: dict[tuple[str, str], list[str]] = {}
        self._fills: list[JournalFill] = []
        self._trades: set[tuple[str, str, str]] = set()  # (account, symbol, trade id)
        self._last_fill: dict[str, datetime] = {}

    @property
    def orders(self) -> tuple[JournalOrder, ...]:
        """Every order as it stands now, in the order their intents were written."""
        return tuple(self._orders.values())

    def order(self, client_order_id: str) -> JournalOrder | None:
        """The order journaled under ``client_order_id``, as it stands now."""
        return self._orders.get(client_order_id)

    def entries(self, account_id: str, symbol: str) -> Iterable[JournalOrder]:
        """The account's entries on ``symbol`` tied to a leg, oldest first, as they stand."""
        return (
            self._orders[client_id] for client_id in self._entries.get((account_id, symbol), ())
        )

    @property
    def fill_records(self) -> tuple[JournalFill, ...]:
        """Every fill, in the order written."""
        return tuple(self._fills)

    def fill_count(self) -> int:
        """How many fills are stored."""
        return len(self._fills)

    async def order_intent(
        self,
        account_id: str,
        leg_id: uuid.UUID | None,
        request: OrderRequest,
        purpose: str,
        at: datetime,
    ) -> None:
        """Write the order *before* it is sent (status ``intent``); idempotent on client id."""
        client_id = request.client_order_id
        if client_id in self._orders:
            return
        if leg_id is not None and not self._leg_exists(leg_id):
            raise JournalIntegrityError(f"order {client_id} of unknown leg {leg_id}")
        created = _utc(at)
        self._orders[client_id] = JournalOrder(
            client_order_id=client_id,
            account_id=account_id,
            leg_id=leg_id,
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
            # The time as given, like the SQL journal's history (its zone kept).
            status_history=({"status": "intent", "at": at.isoformat()},),
            created_at=created,
            updated_at=created,
        )
        self._pending.setdefault(account_id, {})[client_id] = None
        if purpose == "entry" and leg_id is not None:
            self._entries.setdefault((account_id, request.symbol), []).append(client_id)
        if self._publisher is not None:
            self._publisher.order(
                account_id, "intent", to_json(request) | {"purpose": purpose}, at=created
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
        row = self._orders.get(client_order_id)
        if row is None:
            return
        new_status = status or (order.status.value if order else row.status)
        changes: dict[str, Any] = {}
        if order is not None:
            changes.update(
                exchange_order_id=str(order.order_id),
                filled_quantity=order.executed_qty,
                average_price=order.avg_price or None,
            )
        if error is not None:
            changes["error"] = error
        if new_status != row.status:
            entry = {"status": new_status, "at": at.isoformat()}
            if error:
                entry["reason"] = error
            changes.update(
                status=new_status,
                updated_at=_utc(at),
                status_history=(*row.status_history, entry),
            )
            pending = self._pending.setdefault(row.account_id, {})
            if new_status in _PENDING:
                pending[client_order_id] = None
            else:
                pending.pop(client_order_id, None)
        if not changes:
            return
        row = replace(row, **changes)
        self._orders[client_order_id] = row
        if self._publisher is not None and "status" in changes:
            self._publisher.order(row.account_id, new_status, _order_data(row), at=_utc(at))

    async def fills(self, account_id: str, executions: Sequence[Execution]) -> list[Execution]:
        """Store fills (idempotent on the exchange trade id); returns the new ones."""
        added: list[Execution] = []
        for execution in executions:
            key = (account_id, execution.symbol, execution.trade_id)
            if key in self._trades:
                continue
            filled_at = _utc(execution.time)
            self._trades.add(key)
            self._fills.append(
                JournalFill(
                    account_id=account_id,
                    order_client_id=(
                        execution.client_order_id
                        if execution.client_order_id in self._orders
                        else None
                    ),
                    symbol=execution.symbol,
                    trade_id=execution.trade_id,
                    side=execution.side,
                    price=execution.price,
                    quantity=execution.quantity,
                    fee=execution.fee,
                    fee_asset=execution.fee_asset,
                    realized_pnl=execution.realized_pnl,
                    maker=execution.maker,
                    filled_at=filled_at,
                )
            )
            newest = self._last_fill.get(account_id)
            if newest is None or filled_at > newest:
                self._last_fill[account_id] = filled_at
            added.append(execution)
        if self._publisher is not None and added:
            self._publisher.fills(account_id, added)
        return added

    async def pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first."""
        orders = sorted(
            (self._orders[client_id] for client_id in self._pending.get(account_id, {})),
            key=lambda order: order.created_at,
        )
        return [
            PendingOrder(
                order.client_order_id,
                order.symbol,
                order.status,
                order.purpose,
                datetime.fromisoformat(order.status_history[0]["at"]),
            )
            for order in orders
        ]

    async def last_fill_time(self, account_id: str) -> datetime | None:
        """When the account's newest journaled fill happened."""
        return self._last_fill.get(account_id)
