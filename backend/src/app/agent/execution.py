"""Execution: approved legs become orders, entries get exchange-side protection.

Every order is journaled as an intent before it is sent, under a deterministic client id
(``ta-<decision>-<leg>-<n>``, ``-sl`` / ``-tp`` for protection), so a retry or a restart can
never place it twice. Protection orders are close-position STOP_MARKET / TAKE_PROFIT_MARKET
triggered by the mark price: they close whatever the position is when they fire, so they
match its size through reductions. If protection cannot be placed, the position is closed.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.agent.journal import Journal
from app.exchange.errors import ExchangeError, OrderRejected
from app.exchange.ports import Exchange, PositionState
from app.exchange.types import OrderRequest, OrderType, Side, WorkingType
from app.llm.invalidation import Condition
from app.llm.parsing import ParsedLeg
from app.trading.domain import LegVerdict


@dataclass(slots=True)
class Thesis:
    """Why a position is open, and what ends it."""

    condition: Condition | None
    text: str
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_at: datetime


class Executor:
    """Sends one account's orders through its exchange port, journaling every step."""

    def __init__(self, account_id: str, exchange: Exchange, journal: Journal) -> None:
        self._account = account_id
        self._exchange = exchange
        self._journal = journal

    async def execute(
        self,
        verdict: LegVerdict,
        prefix: str,
        leg_id: uuid.UUID | None,
        now: datetime,
        leg: ParsedLeg | None,
    ) -> tuple[int, Thesis | None]:
        """Send a verdict's orders, then protect an entry; returns (orders sent, thesis)."""
        symbol = verdict.proposal.symbol
        sent = 0
        for number, plan in enumerate(verdict.orders):
            if plan.purpose == "entry" and verdict.leverage is not None:
                await self._exchange.set_leverage(symbol, verdict.leverage)
            request = OrderRequest(
                symbol,
                plan.side,
                OrderType.MARKET,
                f"{prefix}-{number}",
                quantity=plan.quantity,
                reduce_only=plan.reduce_only,
            )
            if not await self.send(request, leg_id, plan.purpose, now):
                return sent, None
            sent += 1
            if plan.purpose == "close":
                await self.cancel_protection(symbol)
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

    async def _protect(
        self, verdict: LegVerdict, prefix: str, leg_id: uuid.UUID | None, now: datetime
    ) -> int:
        symbol = verdict.proposal.symbol
        exit_side = Side.SELL if verdict.orders[-1].side is Side.BUY else Side.BUY
        await self.cancel_protection(symbol)
        protections = [(OrderType.STOP_MARKET, verdict.stop_loss, "sl", "stop_loss")]
        if verdict.take_profit is not None:
            protections.append(
                (OrderType.TAKE_PROFIT_MARKET, verdict.take_profit, "tp", "take_profit")
            )
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
        return True

    async def cancel_protection(self, symbol: str) -> None:
        """Cancel the symbol's open reduce-only / close-position orders."""
        for order in await self._exchange.open_orders(symbol):
            if order.close_position or order.reduce_only:
                await self._exchange.cancel_order(symbol, order.client_order_id)
