"""Execution: approved legs become orders, entries get exchange-side protection.

Every order is journaled as an intent before it is sent, under a deterministic client id
(``ta-<decision>-<leg>-<n>``, ``-sl`` / ``-tp`` for protection), so a retry or a restart can
never place it twice. Protection orders are close-position STOP_MARKET / TAKE_PROFIT_MARKET
triggered by the mark price: they close whatever the position is when they fire, so they
match its size through reductions. If protection cannot be placed, the position is closed.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.agent.journal import Journal
from app.core.clock import Clock
from app.exchange.errors import ExchangeError, OrderRejected
from app.exchange.ports import Exchange, PositionState
from app.exchange.types import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    WorkingType,
)
from app.llm.invalidation import Condition
from app.llm.parsing import ParsedLeg
from app.trading.domain import LegVerdict, OrderPlan


@dataclass(slots=True)
class Thesis:
    """Why a position is open, and what ends it."""

    condition: Condition | None
    text: str
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_at: datetime


_OVER = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


class Executor:
    """Sends one account's orders through its exchange port, journaling every step."""

    def __init__(
        self,
        account_id: str,
        exchange: Exchange,
        journal: Journal,
        *,
        clock: Clock,
        entry_type: OrderType = OrderType.MARKET,
        limit_timeout: timedelta = timedelta(seconds=30),
    ) -> None:
        self._account = account_id
        self._exchange = exchange
        self._journal = journal
        self._clock = clock
        self.entry_type = entry_type
        """MARKET entries, or LIMIT (GTC at the current price, the rest cancelled after
        ``limit_timeout``, so a position never waits a cycle for its protection)."""
        self._limit_timeout = limit_timeout

    async def execute(
        self,
        verdict: LegVerdict,
        prefix: str,
        leg_id: uuid.UUID | None,
        now: datetime,
        leg: ParsedLeg | None,
        price: Decimal | None = None,
    ) -> tuple[int, Thesis | None]:
        """Send a verdict's orders, then protect an entry; returns (orders sent, thesis).

        ``price`` (the current mark) prices LIMIT entries.
        """
        symbol = verdict.proposal.symbol
        sent = 0
        for number, plan in enumerate(verdict.orders):
            if plan.purpose == "entry" and verdict.leverage is not None:
                await self._exchange.set_leverage(symbol, verdict.leverage)
            request = await self._request(plan, f"{prefix}-{number}", price)
            if not await self.send(request, leg_id, plan.purpose, now):
                return sent, None
            sent += 1
            if plan.purpose == "close":
                await self.cancel_protection(symbol)
            if request.type is OrderType.LIMIT and not await self._limit_filled(request, now):
                return sent, None
        if not verdict.proposal.action.opens or verdict.stop_loss is None:
            return sent, None
        protected = await self._protect(verdict, prefix, leg_id, now)
        if not protected:
            return sent, None
        thesis = Thesis(
            leg.invalidation if leg else None,
            leg.rationale if leg else "",
            verdict.stop_loss,
            verdict.take_profit,
            now,
        )
        return sent + protected, thesis

    async def _request(
        self, plan: OrderPlan, client_id: str, price: Decimal | None
    ) -> OrderRequest:
        if plan.purpose != "entry" or self.entry_type is not OrderType.LIMIT or price is None:
            return OrderRequest(
                plan.symbol,
                plan.side,
                OrderType.MARKET,
                client_id,
                quantity=plan.quantity,
                reduce_only=plan.reduce_only,
            )
        filters = await self._exchange.symbol_filters(plan.symbol)
        return OrderRequest(
            plan.symbol,
            plan.side,
            OrderType.LIMIT,
            client_id,
            quantity=filters.round_quantity(plan.quantity),
            price=filters.round_price(price),
            time_in_force=TimeInForce.GTC,
        )

    async def _limit_filled(self, request: OrderRequest, now: datetime) -> bool:
        """Wait up to the timeout for a LIMIT entry, cancel the rest; True when any filled."""
        symbol, client_id = request.symbol, request.client_order_id
        deadline = self._clock.now() + self._limit_timeout
        order = await self._exchange.find_order(symbol, client_id)
        while (
            order is not None and order.status is OrderStatus.NEW and self._clock.now() < deadline
        ):
            await self._clock.sleep_until(min(deadline, self._clock.now() + timedelta(seconds=1)))
            order = await self._exchange.find_order(symbol, client_id)
        if order is not None and order.status is not OrderStatus.FILLED:
            await self._exchange.cancel_order(symbol, client_id)
            order = await self._exchange.find_order(symbol, client_id)
        await self._journal.order_update(order, client_id, now)
        return order is not None and order.executed_qty > 0

    async def _protect(
        self, verdict: LegVerdict, prefix: str, leg_id: uuid.UUID | None, now: datetime
    ) -> int:
        exit_side = Side.SELL if verdict.orders[-1].side is Side.BUY else Side.BUY
        assert verdict.stop_loss is not None  # only entries with a stop are protected
        return await self.arm(
            verdict.proposal.symbol,
            exit_side,
            verdict.stop_loss,
            verdict.take_profit,
            prefix,
            leg_id,
            now,
        )

    async def arm(
        self,
        symbol: str,
        exit_side: Side,
        stop_loss: Decimal,
        take_profit: Decimal | None,
        prefix: str,
        leg_id: uuid.UUID | None,
        now: datetime,
    ) -> int:
        """Replace the symbol's protection; returns orders placed (0: failed, flattened)."""
        await self.cancel_protection(symbol)
        protections = [(OrderType.STOP_MARKET, stop_loss, "sl", "stop_loss")]
        if take_profit is not None:
            protections.append((OrderType.TAKE_PROFIT_MARKET, take_profit, "tp", "take_profit"))
        for kind, price, tag, purpose in protections:
            request = OrderRequest(
                symbol,
                exit_side,
                kind,
                f"{prefix}-{tag}",
                stop_price=price,
                close_position=True,
                working_type=WorkingType.MARK_PRICE,
            )
            if not await self.send(request, leg_id, purpose, now):
                await self._flatten_unprotected(symbol, now)
                return 0
        return len(protections)

    async def _flatten_unprotected(self, symbol: str, now: datetime) -> None:
        position = (await self._exchange.account_state()).positions.get(symbol)
        if position is not None:
            await self.close_position(position, "unprot", now)
        await self._journal.event(
            self._account,
            "protection.missing",
            f"{symbol}: protection could not be placed; position closed",
            severity="critical",
            payload={"symbol": symbol},
        )

    async def kill(
        self, symbols: list[str], *, flatten: bool, reason: str, now: datetime
    ) -> list[str]:
        """Cancel every open order of ``symbols``; with ``flatten`` close every position.

        Returns the symbols whose positions were closed.
        """
        for symbol in symbols:
            for order in await self._exchange.open_orders(symbol):
                await self._exchange.cancel_order(symbol, order.client_order_id)
        closed: list[str] = []
        if flatten:
            for position in (await self._exchange.account_state()).positions.values():
                if await self.close_position(position, "kill", now):
                    closed.append(position.symbol)
        suffix = "; positions flattened" if flatten else ""
        await self._journal.event(
            self._account,
            "risk.halt",
            f"kill switch: {reason}{suffix}",
            severity="critical",
            payload={"flatten": flatten, "closed": closed},
        )
        return closed

    async def close_position(self, position: PositionState, reason: str, now: datetime) -> bool:
        """Close a whole position reduce-only at the market and cancel its protection."""
        side = Side.SELL if position.amount > 0 else Side.BUY
        request = OrderRequest(
            position.symbol,
            side,
            OrderType.MARKET,
            f"ta-{reason}-{position.symbol.lower()}-{int(now.timestamp())}",
            quantity=abs(position.amount),
            reduce_only=True,
        )
        closed = await self.send(request, None, "close", now)
        await self.cancel_protection(position.symbol)
        return closed

    async def send(
        self, request: OrderRequest, leg_id: uuid.UUID | None, purpose: str, now: datetime
    ) -> bool:
        """Journal the intent, send, journal the result; False when not placed."""
        await self._journal.order_intent(self._account, leg_id, request, purpose, now)
        try:
            order = await self._exchange.place_order(request)
        except OrderRejected as exc:
            await self._journal.order_update(
                None, request.client_order_id, now, status="rejected", error=str(exc)
            )
            await self._journal.event(self._account, "order.rejected", str(exc), severity="warning")
            return False
        except ExchangeError as exc:
            await self._journal.order_update(
                None, request.client_order_id, now, status="unknown", error=str(exc)
            )
            await self._journal.event(self._account, "order.unknown", str(exc), severity="error")
            return False
        await self._journal.order_update(order, request.client_order_id, now)
        # An order that is already over (its id reused, or expired unfilled) protects nothing.
        return order.status not in _OVER

    async def cancel_protection(self, symbol: str) -> None:
        """Cancel the symbol's open reduce-only / close-position orders."""
        for order in await self._exchange.open_orders(symbol):
            if order.close_position or order.reduce_only:
                await self._exchange.cancel_order(symbol, order.client_order_id)
