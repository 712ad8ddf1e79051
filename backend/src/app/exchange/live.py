"""The live exchange: one AsterDEX account behind the agent's :class:`Exchange` port.

Fills come from the user-data stream (which itself replays missed fills from ``userTrades``
after every reconnect); a REST poll of ``userTrades`` is the fallback whenever the stream is
not running, or when an order the exchange reported as executed has not shown all its fills
on the stream yet. Leverage and margin type are only set when they differ from what the
account already has.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from app.exchange.errors import ExchangeError, ExchangeRejected, OrderRejected
from app.exchange.events import OrderUpdate
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import AsterdexClient
from app.exchange.http.constants import CANCEL_REJECTED
from app.exchange.http.streams import UserDataStream
from app.exchange.http.wire import to_ms
from app.exchange.ports import AccountState, Execution, PositionState
from app.exchange.types import ExchangeOrder, Kline, MarginType, OrderRequest, UserTrade

logger = logging.getLogger(__name__)
_PAGE = 500  # userTrades' largest page


class PositionModeError(ExchangeError):
    """The account is in hedge mode; the agent trades one-way (netted) positions only."""


def _from_update(update: OrderUpdate) -> Execution:
    return Execution(
        symbol=update.symbol,
        client_order_id=update.client_order_id,
        order_id=update.order_id,
        trade_id=str(update.trade_id),
        side=update.side.value,
        price=update.last_price,
        quantity=update.last_qty,
        fee=update.commission,
        fee_asset=update.commission_asset,
        realized_pnl=update.realized_pnl,
        maker=update.maker,
        time=update.time,
    )


class LiveExchange:
    """One AsterDEX account (one-way position mode) as the agent's exchange port.

    Args:
        client: The account's signed REST client.
        symbols: The symbols the account trades (fills are polled for these).
        stream: Its user-data stream; None polls REST for fills every time.
        margin_type: Margin type every traded symbol is set to before its first entry.
        funding_since: Report funding settled from this time on (default: now).
    """

    def __init__(
        self,
        client: AsterdexClient,
        *,
        symbols: Sequence[str],
        stream: UserDataStream | None = None,
        margin_type: MarginType = MarginType.CROSSED,
        funding_since: datetime | None = None,
    ) -> None:
        self._client = client
        self._symbols = list(symbols)
        self._stream = stream
        self._margin_type = margin_type
        self._task: asyncio.Task[None] | None = None
        self._buffer: list[Execution] = []
        self._seen: set[tuple[str, str]] = set()
        self._leverage: dict[str, int] = {}
        self._margin_set: set[str] = set()
        # Client id -> (symbol, quantity the exchange said was executed), until all of it
        # has been seen as fills.
        self._expected: dict[str, tuple[str, Decimal]] = {}
        self._filled: dict[str, Decimal] = {}
        self._client_ids: dict[tuple[str, int], str] = {}
        # The first look (after a start or a crash) always polls REST: fills made while the
        # service was down were never on this process's stream.
        self._caught_up = False
        self._funding_since = funding_since or datetime.now(UTC)
        self._funding_seen: set[tuple[str, str]] = set()

    @property
    def symbols(self) -> list[str]:
        """The traded symbols."""
        return list(self._symbols)

    @symbols.setter
    def symbols(self, symbols: Sequence[str]) -> None:
        self._symbols = list(symbols)

    @property
    def buffered_fills(self) -> int:
        """Fills the stream delivered that the agent has not collected yet."""
        return len(self._buffer)

    @property
    def streaming(self) -> bool:
        """True while the user-data stream task runs."""
        return self._task is not None and not self._task.done()

    async def prepare(self) -> None:
        """Make sure the account nets positions per symbol (one-way mode), as the agent needs.

        Raises:
            PositionModeError: Hedge mode is on and cannot be switched off (open positions).
        """
        if await self._client.position_mode_is_hedge():
            try:
                await self._client.set_position_mode(hedge=False)
            except ExchangeRejected as exc:
                raise PositionModeError(
                    f"the account is in hedge mode and could not be switched to one-way: {exc}"
                ) from exc
            logger.warning("AsterDEX account switched from hedge to one-way position mode")

    async def start(self) -> None:
        """Start consuming the user-data stream (when there is one)."""
        if self._stream is not None and not self.streaming:
            self._task = asyncio.create_task(self._consume(), name="user-data-stream")

    async def aclose(self) -> None:
        """Stop the stream task (the client is closed by its owner)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _consume(self) -> None:
        assert self._stream is not None
        try:
            async for event in self._stream.events():
                if isinstance(event, OrderUpdate) and event.is_fill:
                    self._buffer.append(_from_update(event))
        except Exception:  # the REST fallback takes over; say why once
            logger.exception("user-data stream stopped; fills now come from REST polling")

    # -- the port ---------------------------------------------------------------------------

    async def symbol_filters(self, symbol: str) -> SymbolFilters:
        """The symbol's trading rules (cached ``exchangeInfo``)."""
        return await self._client.symbol_filters(symbol)

    async def account_state(self) -> AccountState:
        """Totals from ``account``, positions with marks from ``positionRisk``."""
        info = await self._client.account()
        positions = {}
        for row in await self._client.positions():
            self._leverage[row.symbol] = row.leverage
            mark = row.mark_price if row.mark_price is not None else row.entry_price
            positions[row.symbol] = PositionState(
                row.symbol, row.amount, row.entry_price, mark, row.unrealized_pnl, row.leverage
            )
        return AccountState(
            wallet_balance=info.total_wallet_balance,
            equity=info.total_margin_balance,
            available_balance=info.available_balance,
            unrealized_pnl=info.total_unrealized_profit,
            margin_used=info.total_initial_margin,
            positions=positions,
        )

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set margin type (once) and leverage, each only when it differs."""
        if symbol not in self._margin_set:
            if await self._client.set_margin_type(symbol, self._margin_type):
                logger.info("%s: margin type set to %s", symbol, self._margin_type.value)
            self._margin_set.add(symbol)
        if self._leverage.get(symbol) != leverage:
            self._leverage[symbol] = await self._client.set_leverage(symbol, leverage)

    async def place_order(
        self, order: OrderRequest, *, maybe_sent_at_ms: int | None = None
    ) -> ExchangeOrder:
        """Place ``order`` once (idempotent on its client id, see ``AsterdexClient``)."""
        placed = await self._client.place_order(order, maybe_sent_at_ms=maybe_sent_at_ms)
        self._note(placed)
        return placed

    async def find_order(
        self, symbol: str, client_order_id: str, *, sent_at: datetime | None = None
    ) -> ExchangeOrder | None:
        """The order under the client id; with ``sent_at`` a None is final (see the port)."""
        found = await self._client.resolve_order(
            symbol, client_order_id, sent_at_ms=to_ms(sent_at) if sent_at else None
        )
        if found is not None:
            self._note(found)
        return found

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        """Cancel an open order; an order no longer open (-2011) is not an error."""
        try:
            await self._client.cancel_order(symbol, client_order_id=client_order_id)
        except OrderRejected as exc:
            if exc.exchange_code != CANCEL_REJECTED:
                raise

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Open orders of one symbol, or of all."""
        return await self._client.open_orders(symbol)

    async def executions(self, since: datetime) -> list[Execution]:
        """New fills: the stream's, plus a REST poll where the stream may have missed some.

        REST is polled for every traded symbol on the first call and whenever the stream is
        not running, and otherwise for the symbols of orders whose executed quantity has not
        all shown up as fills yet.
        """
        new: list[Execution] = []
        buffered, self._buffer = self._buffer, []
        for execution in buffered:
            self._take(execution, new)
        if self.streaming and self._caught_up:
            lagging = sorted({s for c, (s, q) in self._expected.items() if self._short(c, q)})
        else:
            lagging = list(self._symbols)
        for symbol in lagging:
            for trade in await self._trades_since(symbol, since):
                self._take(await self._from_trade(trade), new)
        self._caught_up = True
        return sorted(new, key=lambda e: e.time)

    async def settle_funding(self, symbol: str, rate: Decimal, mark_price: Decimal) -> Decimal:
        """What AsterDEX charged or paid in funding since the last look (0 when nothing).

        The exchange settles funding itself; reading its ``FUNDING_FEE`` income puts live
        funding in the journal, like the paper exchange's.
        """
        rows = await self._client.income(
            symbol=symbol, income_type="FUNDING_FEE", start=self._funding_since
        )
        new = [row for row in rows if (row.symbol, row.tran_id) not in self._funding_seen]
        self._funding_seen.update((row.symbol, row.tran_id) for row in new)
        return sum((row.income for row in new), Decimal(0))

    async def on_closed_candle(self, candle: Kline) -> None:
        """The exchange matches its own orders: nothing to do."""

    # -- bookkeeping ------------------------------------------------------------------------

    def _note(self, order: ExchangeOrder) -> None:
        self._client_ids[(order.symbol, order.order_id)] = order.client_order_id
        if order.executed_qty > 0:
            self._expected[order.client_order_id] = (order.symbol, order.executed_qty)

    def _take(self, execution: Execution, into: list[Execution]) -> None:
        """Keep a fill not seen before, and count it against its order."""
        key = (execution.symbol, execution.trade_id)
        if key in self._seen:
            return
        self._seen.add(key)
        into.append(execution)
        cid = execution.client_order_id
        self._filled[cid] = self._filled.get(cid, Decimal(0)) + execution.quantity
        expected = self._expected.get(cid)
        if expected is not None and not self._short(cid, expected[1]):
            del self._expected[cid]

    def _short(self, client_order_id: str, quantity: Decimal) -> bool:
        return self._filled.get(client_order_id, Decimal(0)) < quantity

    async def _trades_since(self, symbol: str, since: datetime) -> list[UserTrade]:
        """Every execution of ``symbol`` since ``since``, page by page (500 per request)."""
        trades = await self._client.user_trades(symbol, start=since, limit=_PAGE)
        page = trades
        while len(page) == _PAGE:
            page = await self._client.user_trades(
                symbol, from_id=page[-1].trade_id + 1, limit=_PAGE
            )
            trades.extend(page)
        return trades

    async def _from_trade(self, trade: UserTrade) -> Execution:
        key = (trade.symbol, trade.order_id)
        if key not in self._client_ids:
            order = await self._client.query_order(trade.symbol, order_id=trade.order_id)
            self._client_ids[key] = order.client_order_id
        return Execution(
            symbol=trade.symbol,
            client_order_id=self._client_ids[key],
            order_id=trade.order_id,
            trade_id=str(trade.trade_id),
            side=trade.side.value,
            price=trade.price,
            quantity=trade.quantity,
            fee=trade.commission,
            fee_asset=trade.commission_asset,
            realized_pnl=trade.realized_pnl,
            maker=trade.maker,
            time=trade.time,
        )
