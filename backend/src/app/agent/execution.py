"""Execution: approved legs become orders, entries get exchange-side protection.

Every order is journaled as an intent before it is sent, under a deterministic client id
(``ta-<decision>-<leg>-<n>``, ``-sl`` / ``-tp`` for protection), so a retry or a restart can
never place it twice. Protection orders are close-position STOP_MARKET / TAKE_PROFIT_MARKET
triggered by the mark price: they close whatever the position is when they fire, so they
match its size through reductions.

Protection comes first: once an entry may have filled (filled, partly filled, or its outcome
unknown) its stop and target go out before anything else can fail the cycle. Only an
entry's intent must reach the journal before it is sent; every later write (statuses,
protection intents, events) goes through the :class:`~app.agent.failures.JournalBacklog`
and waits out a database outage. Rate limits are waited out for every order but entries
(an entry refused for a rate limit is simply not sent: its decision is stale by then). If
protection is refused, the position is closed; if the exchange cannot say, the loop checks
again within seconds (:class:`~app.agent.failures.ProtectionPending`).
"""

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from app.agent import order_ids
from app.agent.failures import JournalBacklog, ProtectionPending
from app.agent.ports import Journal
from app.agent.sending import OrderSender, SendResult, Sent
from app.agent.theses import Theses, Thesis
from app.core.clock import Clock
from app.exchange.ports import Exchange, PositionState
from app.exchange.types import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    WorkingType,
)
from app.llm.parsing import ParsedLeg
from app.trading.domain import LegVerdict, OrderPlan

logger = logging.getLogger(__name__)
PROTECTIVE_PURPOSES = frozenset({"stop_loss", "take_profit"})


class Executor(OrderSender):
    """Turns approved legs into orders and keeps positions protected.

    Each order goes out through :class:`~app.agent.sending.OrderSender`, journaled.

    Args:
        account_id: The account.
        exchange: Its exchange port.
        journal: The journal.
        clock: Time, for LIMIT timeouts and rate-limit waits.
        backlog: Journal writes waiting out a database outage (shared with the loop).
        entry_type: MARKET entries, or LIMIT.
        limit_timeout: How long a LIMIT entry may rest before the rest is cancelled.
        rate_limit_wait: The longest a protection or exit order waits out a rate limit.
    """

    def __init__(
        self,
        account_id: str,
        exchange: Exchange,
        journal: Journal,
        *,
        clock: Clock,
        backlog: JournalBacklog | None = None,
        entry_type: OrderType = OrderType.MARKET,
        limit_timeout: timedelta = timedelta(seconds=30),
        rate_limit_wait: timedelta = timedelta(minutes=3),
    ) -> None:
        super().__init__(
            account_id,
            exchange,
            journal,
            clock=clock,
            backlog=backlog,
            rate_limit_wait=rate_limit_wait,
        )
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
        price: Decimal | None,
        theses: Theses,
    ) -> int:
        """Send a verdict's orders and protect an entry; returns the orders sent.

        ``price`` (the current mark) prices LIMIT entries. ``theses`` gains the entry's
        thesis as soon as the entry may have filled (before its protection is armed), so a
        failure after that point never leaves the service's own position without one.
        """
        symbol = verdict.proposal.symbol
        sent = 0
        for number, plan in enumerate(verdict.orders):
            if plan.purpose == "entry" and verdict.leverage is not None:
                await self._exchange.set_leverage(symbol, verdict.leverage)
            request = await self._request(plan, order_ids.leg_order(prefix, number), price)
            result = await self.send(request, leg_id, plan.purpose, now)
            if result.outcome is Sent.REFUSED:
                return sent
            sent += 1
            if plan.purpose == "close":
                if not result.filled:
                    return sent  # the old position may still be there: open nothing on top
                await self.cancel_protection(symbol)
            if plan.purpose != "entry" or not verdict.proposal.action.opens:
                continue
            if verdict.stop_loss is None:
                continue
            thesis = Thesis(
                leg.invalidation if leg else None,
                leg.rationale if leg else "",
                verdict.stop_loss,
                verdict.take_profit,
                now,
            )
            if request.type is OrderType.LIMIT:
                sent += await self._limit_entry(
                    request, result, verdict, prefix, leg_id, now, thesis, theses
                )
                continue
            if result.may_have_filled:
                theses.hold(symbol, thesis)
                sent += await self._protect(verdict, prefix, leg_id, now)
        return sent

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

    async def _limit_entry(
        self,
        request: OrderRequest,
        result: SendResult,
        verdict: LegVerdict,
        prefix: str,
        leg_id: uuid.UUID | None,
        now: datetime,
        thesis: Thesis,
        theses: Theses,
    ) -> int:
        """Wait up to the timeout for a LIMIT entry, protecting it from its first fill.

        The rest is cancelled at the timeout. Returns the protection orders placed.
        """
        symbol, client_id = request.symbol, request.client_order_id
        deadline = self._clock.now() + self._limit_timeout
        order = result.order
        if result.outcome is Sent.UNKNOWN:
            order = await self._exchange.find_order(symbol, client_id)
        armed = 0

        async def protect_if_filled() -> None:
            nonlocal armed
            if not armed and order is not None and order.executed_qty > 0:
                theses.hold(symbol, thesis)
                armed = await self._protect(verdict, prefix, leg_id, now)

        await protect_if_filled()
        while order is not None and order.status in _WORKING and self._clock.now() < deadline:
            await self._clock.sleep_until(min(deadline, self._clock.now() + timedelta(seconds=1)))
            order = await self._exchange.find_order(symbol, client_id)
            await protect_if_filled()
        if order is not None and order.status in _WORKING:
            await self._exchange.cancel_order(symbol, client_id)
            order = await self._exchange.find_order(symbol, client_id)
        await protect_if_filled()
        final = order
        await self.backlog.write(
            f"status of {client_id}", lambda: self._journal.order_update(final, client_id, now)
        )
        return armed

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
        """Give the symbol's position this protection; returns orders placed.

        The new orders go out before the old ones are cancelled, so a replacement never
        leaves a gap. 0 means there was nothing to protect, or protection was refused and
        the position closed.

        Raises:
            ProtectionPending: The exchange could not say whether protection (or the close
                that replaces it) went through; the loop checks again within seconds.
        """
        protections = [(OrderType.STOP_MARKET, stop_loss, order_ids.STOP_LOSS, "stop_loss")]
        if take_profit is not None:
            protections.append(
                (OrderType.TAKE_PROFIT_MARKET, take_profit, order_ids.TAKE_PROFIT, "take_profit")
            )
        placed: list[str] = []
        for kind, price, tag, purpose in protections:
            request = OrderRequest(
                symbol,
                exit_side,
                kind,
                order_ids.protection(prefix, tag),
                stop_price=price,
                close_position=True,
                working_type=WorkingType.MARK_PRICE,
            )
            result = await self.send(request, leg_id, purpose, now)
            if result.outcome is Sent.UNKNOWN:
                raise ProtectionPending(f"{symbol}: protection outcome unknown: {result.error}")
            if result.outcome is Sent.REFUSED:
                await self._flatten_unprotected(symbol, now)
                return 0
            placed.append(request.client_order_id)
        await self.cancel_protection(symbol, keep=frozenset(placed))
        return len(placed)

    async def _flatten_unprotected(self, symbol: str, now: datetime) -> None:
        position = (await self._exchange.account_state()).positions.get(symbol)
        if position is None:
            # A close-position order is refused on a flat position: an entry that did not
            # fill (or was closed meanwhile) leaves nothing to protect.
            logger.info("%s: no position to protect", symbol)
            await self.cancel_protection(symbol)
            return
        if not await self.close_position(position, "unprot", now):
            raise ProtectionPending(f"{symbol}: protection refused and the close did not fill")
        await self.event(
            "protection.missing",
            f"{symbol}: protection could not be placed; position closed",
            severity="critical",
            payload={"symbol": symbol},
        )

    async def kill(
        self, symbols: list[str], *, flatten: bool, reason: str, now: datetime
    ) -> list[str]:
        """Cancel open orders of ``symbols``; with ``flatten`` close every position.

        Without ``flatten`` the protection of open positions stays: a halted account keeps
        its stops. Returns the symbols whose positions were closed.
        """
        closed: list[str] = []
        if flatten:
            for position in (await self._exchange.account_state()).positions.values():
                if await self.close_position(position, "kill", now):
                    closed.append(position.symbol)
        held = (await self._exchange.account_state()).positions
        for symbol in symbols:
            for order in await self._exchange.open_orders(symbol):
                if symbol in held and (order.close_position or order.reduce_only):
                    continue
                await self._exchange.cancel_order(symbol, order.client_order_id)
        suffix = "; positions flattened" if flatten else ""
        await self.event(
            "risk.halt",
            f"kill switch: {reason}{suffix}",
            severity="critical",
            payload={"flatten": flatten, "closed": closed},
        )
        return closed

    async def close_position(self, position: PositionState, reason: str, now: datetime) -> bool:
        """Close a whole position reduce-only at the market; True when it is closed.

        Its protection is cancelled only once the close filled: a close that failed, or
        filled in part, leaves the position protected.
        """
        side = Side.SELL if position.amount > 0 else Side.BUY
        request = OrderRequest(
            position.symbol,
            side,
            OrderType.MARKET,
            order_ids.position_close(reason, position.symbol, now),
            quantity=abs(position.amount),
            reduce_only=True,
        )
        result = await self.send(request, None, "close", now)
        if not result.filled:
            return False
        await self.cancel_protection(position.symbol)
        return True

    async def cancel_protection(self, symbol: str, *, keep: frozenset[str] = frozenset()) -> None:
        """Cancel the symbol's open reduce-only / close-position orders (except ``keep``)."""
        for order in await self._exchange.open_orders(symbol):
            if order.client_order_id in keep:
                continue
            if order.close_position or order.reduce_only:
                await self._exchange.cancel_order(symbol, order.client_order_id)


_WORKING = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})
