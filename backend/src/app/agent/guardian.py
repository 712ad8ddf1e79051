"""The protection guardian and order reconciliation: journal and exchange agree, always.

Run at startup (recovery) and at the start of every cycle:

- :meth:`Guardian.reconcile_orders` asks the exchange about every journaled order whose
  outcome is open (``intent`` / ``unknown`` after a crash or a timeout, ``NEW`` /
  ``PARTIALLY_FILLED`` resting orders) by its client id and records the answer. An order the
  exchange provably never received is marked ``not_sent`` and is *not* sent again: the
  decision behind it is stale, and the next cycle decides afresh.
- :meth:`Guardian.guard` makes sure every open position has its exchange-side stop (and
  take-profit when its thesis has one); a missing one is re-armed, and a position that cannot
  be protected is closed. A position the service did not open is adopted (protected with
  the widest stop the risk limits allow) or flattened, per ``UNMANAGED_POSITION_POLICY``.
  Protection orders left behind by a closed position are cancelled.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from app.agent import order_ids
from app.agent.execution import Executor
from app.agent.failures import ProtectionPending
from app.agent.ports import IN_FLIGHT, Journal
from app.agent.theses import Theses, Thesis
from app.exchange.errors import ExchangeError
from app.exchange.ports import AccountState, Exchange, PositionState
from app.exchange.types import ExchangeOrder, OrderType, Side

logger = logging.getLogger(__name__)

type UnmanagedPolicy = Literal["adopt", "flatten"]
_NOT_SENT = "never reached the exchange (resolved by client id); not resent: its decision is stale"


@dataclass(slots=True)
class GuardReport:
    """What one reconciliation changed."""

    resolved: dict[str, str] = field(default_factory=dict)
    rearmed: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    flattened: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.resolved, self.rearmed, self.adopted, self.flattened, self.cancelled))


class Guardian:
    """Keeps one account's journal, orders and protection consistent with its exchange."""

    def __init__(
        self,
        account_id: str,
        exchange: Exchange,
        journal: Journal,
        executor: Executor,
        *,
        max_stop_distance: Decimal,
        policy: UnmanagedPolicy = "adopt",
    ) -> None:
        self._account = account_id
        self._exchange = exchange
        self._journal = journal
        self._executor = executor
        self.max_stop_distance = max_stop_distance
        self.policy: UnmanagedPolicy = policy
        self._armed = 0
        # The exchange's word this guardian last wrote on each working order (by client id):
        # most cycles the exchange says just that again, and the write would change nothing.
        self._recorded: dict[str, ExchangeOrder] = {}

    async def reconcile_orders(
        self, now: datetime, report: GuardReport, open_orders: Sequence[ExchangeOrder]
    ) -> None:
        """Record the exchange's word on every journaled order with an open outcome.

        ``open_orders`` (the exchange's, fetched once per cycle) answers for the orders
        still working; only the others are looked up one by one. A working order is not
        written again while both sides stand as this guardian last wrote them: the journal
        shows that status, and the exchange reports the order exactly as then (a fill or an
        amendment changes the report), so the write would change nothing.
        """
        working = {order.client_order_id: order for order in open_orders}
        recorded: dict[str, ExchangeOrder] = {}
        for pending in await self._journal.pending_orders(self._account):
            in_flight = pending.status in IN_FLIGHT
            client_id = pending.client_order_id
            still_open = working.get(client_id)
            if still_open is not None:
                if (
                    still_open.status.value != pending.status
                    or self._recorded.get(client_id) != still_open
                ):
                    await self._journal.order_update(still_open, client_id, now)
                # Kept only once written: a write the journal refused is tried again.
                recorded[client_id] = still_open
                continue
            try:
                found = await self._exchange.find_order(
                    pending.symbol,
                    pending.client_order_id,
                    sent_at=pending.intent_at if in_flight else None,
                )
            except ExchangeError as exc:  # asked again at the next cycle
                logger.warning("order %s: still unresolved: %s", client_id, exc)
                continue
            if found is not None:
                if found.status.value != pending.status:
                    report.resolved[client_id] = found.status.value
                await self._journal.order_update(found, client_id, now)
            elif in_flight:
                report.resolved[client_id] = "not_sent"
                await self._journal.order_update(
                    None, client_id, now, status="not_sent", error=_NOT_SENT
                )
        # Only the orders still working: the others are gone from the exchange's list for good.
        self._recorded = recorded

    async def guard(
        self,
        state: AccountState,
        theses: Theses,
        now: datetime,
        report: GuardReport,
        open_orders: Sequence[ExchangeOrder],
    ) -> None:
        """Protect every position (adopting or flattening unmanaged ones); drop stray stops.

        ``theses`` is updated in place: adopted positions gain one, closed ones lose theirs.
        """
        by_symbol: dict[str, list[ExchangeOrder]] = {}
        for order in open_orders:
            by_symbol.setdefault(order.symbol, []).append(order)
        theses.keep_only(state.positions)  # a thesis belongs to a position: gone with it
        pending: list[str] = []
        for symbol, position in state.positions.items():
            try:
                await self._guard_one(position, theses, now, report, by_symbol.get(symbol, []))
            except ProtectionPending as exc:  # the others still get their turn
                logger.warning("%s", exc)
                pending.append(str(exc))
        for symbol, stray in by_symbol.items():
            if symbol in state.positions:
                continue
            for order in stray:
                if order.close_position or order.reduce_only:
                    await self._exchange.cancel_order(symbol, order.client_order_id)
                    report.cancelled.append(order.client_order_id)
        if pending:
            raise ProtectionPending("; ".join(pending))

    async def _guard_one(
        self,
        position: PositionState,
        theses: Theses,
        now: datetime,
        report: GuardReport,
        orders: Sequence[ExchangeOrder],
    ) -> None:
        symbol = position.symbol
        protection = [o for o in orders if _protects(o, position)]
        thesis = theses.get(symbol)
        if thesis is None or thesis.stop_loss is None:
            thesis = await self._unmanaged(position, bool(protection), now, report)
            if thesis is None:
                theses.drop(symbol)
                return
            theses.hold(symbol, thesis)
        kinds = {o.type for o in protection}  # each a stop or a target (``_protects``)
        if _STOP in kinds and (thesis.take_profit is None or _TARGET in kinds):
            return
        assert thesis.stop_loss is not None
        placed = await self._executor.arm(
            symbol,
            _exit_side(position),
            thesis.stop_loss,
            thesis.take_profit,
            self._prefix(symbol, now),
            None,
            now,
        )
        if placed:
            report.rearmed.append(symbol)
            await self._executor.event(
                "protection.armed",
                f"{symbol}: protection was missing; re-armed "
                f"(stop {thesis.stop_loss}, target {thesis.take_profit})",
                severity="warning",
                payload={"symbol": symbol, "stop_loss": thesis.stop_loss},
            )
        else:
            report.flattened.append(symbol)
            theses.drop(symbol)

    async def bridge(
        self,
        state: AccountState,
        theses: Theses,
        now: datetime,
        report: GuardReport,
        open_orders: Sequence[ExchangeOrder],
    ) -> None:
        """Protection without the journal (it is away at startup): a stop for every position.

        A position with no working stop gets its thesis's stop when one is known, else the
        widest stop the limits allow, for now: the full guard (targets, adoption, policy)
        runs once the journal can say which positions are the service's own.

        Raises:
            ProtectionPending: Some position's stop could not be settled.
        """
        pending: list[str] = []
        for symbol, position in state.positions.items():
            if any(
                o.symbol == symbol
                and o.type == OrderType.STOP_MARKET.value
                and _protects(o, position)
                for o in open_orders
            ):
                continue
            thesis = theses.get(symbol)
            known = thesis.stop_loss if thesis is not None else None
            stop = known if known is not None else await self._widest_stop(position)
            try:
                placed = await self._executor.arm(
                    symbol, _exit_side(position), stop, None, self._prefix(symbol, now), None, now
                )
            except ProtectionPending as exc:
                logger.warning("%s", exc)
                pending.append(str(exc))
                continue
            if not placed:
                report.flattened.append(symbol)
                theses.drop(symbol)
                continue
            report.rearmed.append(symbol)
            await self._executor.event(
                "protection.armed",
                f"{symbol}: no stop and no journal to read its thesis from; armed a stop at "
                f"{stop} until the database is back",
                severity="warning",
                payload={"symbol": symbol, "stop_loss": stop, "journal": "unavailable"},
            )
        if pending:
            raise ProtectionPending("; ".join(pending))

    def _prefix(self, symbol: str, now: datetime) -> str:
        self._armed += 1
        return order_ids.guard_prefix(now, self._armed, symbol)

    async def _widest_stop(self, position: PositionState) -> Decimal:
        """The stop ``max_stop_distance`` from the mark, on the exchange's price grid."""
        distance = position.mark_price * self.max_stop_distance
        stop = (
            position.mark_price - distance
            if position.amount > 0
            else position.mark_price + distance
        )
        filters = await self._exchange.symbol_filters(position.symbol)
        return filters.round_price(stop)

    async def _unmanaged(
        self, position: PositionState, protected: bool, now: datetime, report: GuardReport
    ) -> Thesis | None:
        symbol = position.symbol
        if self.policy == "flatten":
            if not await self._executor.close_position(position, "flat", now):
                raise ProtectionPending(f"{symbol}: an unmanaged position could not be closed")
            report.flattened.append(symbol)
            await self._executor.event(
                "position.flattened",
                f"{symbol}: a position the service did not open was closed "
                "(UNMANAGED_POSITION_POLICY=flatten)",
                severity="warning",
                payload={"symbol": symbol, "amount": position.amount},
            )
            return None
        stop = await self._widest_stop(position)
        report.adopted.append(symbol)
        await self._executor.event(
            "position.adopted",
            f"{symbol}: adopted a position the service did not open ({position.amount} at "
            f"{position.entry_price}); "
            + ("its own stop stays" if protected else f"protected with a stop at {stop}"),
            severity="warning",
            payload={"symbol": symbol, "amount": position.amount, "stop_loss": stop},
        )
        return Thesis(None, "adopted at startup", stop, None, now)


_STOP = OrderType.STOP_MARKET.value
_TARGET = OrderType.TAKE_PROFIT_MARKET.value
_PROTECTIVE = frozenset({_STOP, _TARGET})


def _exit_side(position: PositionState) -> Side:
    return Side.SELL if position.amount > 0 else Side.BUY


def _protects(order: ExchangeOrder, position: PositionState) -> bool:
    """A working stop or target that would close (part of) this position."""
    return (
        order.type in _PROTECTIVE
        and (order.close_position or order.reduce_only)
        and order.side is _exit_side(position)
    )
