"""The live exchange: one AsterDEX account behind the agent's :class:`Exchange` port.

Every fill on the account reaches the agent, whoever ordered it (the agent, a person trading
by hand on the same account, a liquidation or auto-deleverage). Fills come from the user-data
stream (which itself replays missed fills from ``userTrades`` after every reconnect). Whenever
the stream may have missed one, because it was down or reconnected at any moment since the
last look (or this is the first look), ``userTrades`` is polled for every symbol that may
have one: the traded symbols, those of open positions and those the account's income shows a
fill in. It is also polled for orders the exchange reported as executed whose fills have not
all shown up yet. A look is all or nothing: when a poll fails, what was collected is kept for
the next look, so the agent's fill cursor never moves past a fill it was not given. Leverage
and margin type are only set when they differ from what the account already has.
"""

import asyncio
import contextlib
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Sequence
from datetime import datetime
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
_CONNECT_WAIT_S = 10.0  # how long start() waits for the stream's first connection


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

    AsterDEX is a real venue: it matches its own orders and settles funding itself, so the
    :class:`~app.exchange.ports.VenueSimulation` hooks do nothing to it. ``on_closed_candle``
    is a no-op, and ``settle_funding`` charges nothing: it only reads back what AsterDEX
    charged, for the journal.

    Args:
        client: The account's signed REST client.
        symbols: The symbols the account trades (fills are always polled for these).
        stream: Its user-data stream; None polls REST for fills every time.
        margin_type: Margin type every traded symbol is set to before its first entry.
        funding_since: Report funding settled from this time on (default: now).
        connect_wait_s: How long :meth:`start` waits for the stream's first connection.
    """

    def __init__(
        self,
        client: AsterdexClient,
        *,
        symbols: Sequence[str],
        stream: UserDataStream | None = None,
        margin_type: MarginType = MarginType.CROSSED,
        funding_since: datetime | None = None,
        connect_wait_s: float = _CONNECT_WAIT_S,
    ) -> None:
        self._client = client
        self._symbols = list(symbols)
        self._stream = stream
        self._margin_type = margin_type
        self._task: asyncio.Task[None] | None = None
        self._connect_wait_s = connect_wait_s
        self._buffer: list[Execution] = []
        # Collected (stream or REST) but not returned yet; a fill is only "seen" once an
        # executions() call has returned it.
        self._pending: dict[tuple[str, str], Execution] = {}
        self._seen: set[tuple[str, str]] = set()
        self._leverage: dict[str, int] = {}
        self._margin_set: set[str] = set()
        # Client id -> (symbol, quantity the exchange said was executed), until all of it
        # has been seen as fills.
        self._expected: dict[str, tuple[str, Decimal]] = {}
        self._filled: dict[str, Decimal] = {}
        self._client_ids: dict[tuple[str, int], str] = {}
        # The first look (after a start or a crash) always polls REST: fills made while the
        # service was down were never on this process's stream. It stays False until a full
        # poll succeeds.
        self._caught_up = False
        # The stream's connection count when the last successful look began: the same count
        # and a live connection now mean the stream delivered everything in between.
        self._connections_seen = -1
        self._funding_since = funding_since or client.clock.now()
        self._funding_seen: set[tuple[str, str]] = set()

    @property
    def symbols(self) -> list[str]:
        """The traded symbols."""
        return list(self._symbols)

    @symbols.setter
    def symbols(self, symbols: Sequence[str]) -> None:
        self._symbols = list(symbols)
        if self._stream is not None:
            self._stream.symbols = symbols

    @property
    def buffered_fills(self) -> int:
        """Fills collected (from the stream, or by a look that failed) not returned yet."""
        return len(self._buffer) + len(self._pending)

    @property
    def streaming(self) -> bool:
        """True while the user-data stream is connected and delivering (not only running)."""
        return self._running and self._stream is not None and self._stream.connected

    @property
    def _running(self) -> bool:
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
        """Start consuming the user-data stream (when there is one).

        Waits up to ``connect_wait_s`` for its first connection; REST polling covers fills
        until it connects.
        """
        if self._stream is None or self._running:
            return
        task = asyncio.create_task(self._consume(), name="user-data-stream")
        self._task = task
        connected = asyncio.ensure_future(self._stream.wait_connected())
        try:
            await asyncio.wait(
                {task, connected}, timeout=self._connect_wait_s, return_when=FIRST_COMPLETED
            )
        finally:
            connected.cancel()
            await asyncio.gather(connected, return_exceptions=True)
        if not self.streaming:
            logger.warning("user-data stream not connected yet; fills come from REST until it is")

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
        """New fills, whoever ordered them: the stream's, plus REST where it may have missed some.

        REST is polled from ``since`` for every symbol that may have a fill (the traded ones,
        open positions', and those with COMMISSION / REALIZED_PNL income since ``since``) on
        the first call, and whenever the stream was not connected at any moment since the
        previous call; otherwise only for orders whose executed quantity has not all shown up
        as fills yet. Each fill is returned once, oldest first.

        Raises:
            ExchangeError: A REST read failed. Nothing is lost: every fill collected so far,
                the stream's included, is returned by a later call.
        """
        buffered, self._buffer = self._buffer, []
        for execution in buffered:
            self._collect(execution)
        connections = self._stream.connections if self._stream is not None else -1
        lagging = {s for c, (s, q) in self._expected.items() if self._short(c, q)}
        if self._caught_up and self.streaming and connections == self._connections_seen:
            await self._poll(lagging, since)
        else:
            self._caught_up = False  # until this full poll succeeds
            found = await self._client.symbols_with_fills(since)
            await self._poll(lagging | found | set(self._symbols), since)
            self._caught_up = True
        self._connections_seen = connections
        return self._release()

    async def settle_funding(self, symbol: str, rate: Decimal, mark_price: Decimal) -> Decimal:
        """What AsterDEX charged or paid in funding since the last look (0 when nothing).

        The :class:`~app.exchange.ports.VenueSimulation` hook. The exchange settles funding
        itself (``rate`` and ``mark_price`` are not used); reading its ``FUNDING_FEE`` income
        puts live funding in the journal, like the paper exchange's.
        """
        rows = await self._client.income(
            symbol=symbol, income_type="FUNDING_FEE", start=self._funding_since
        )
        new = [row for row in rows if (row.symbol, row.tran_id) not in self._funding_seen]
        self._funding_seen.update((row.symbol, row.tran_id) for row in new)
        return sum((row.income for row in new), Decimal(0))

    async def on_closed_candle(self, candle: Kline) -> None:
        """A no-op: AsterDEX matches its own orders (the venue-simulation hook)."""

    # -- bookkeeping ------------------------------------------------------------------------

    def _note(self, order: ExchangeOrder) -> None:
        self._client_ids[(order.symbol, order.order_id)] = order.client_order_id
        if order.executed_qty > 0:
            self._expected[order.client_order_id] = (order.symbol, order.executed_qty)

    async def _poll(self, symbols: set[str], since: datetime) -> None:
        for symbol in sorted(symbols):
            for trade in await self._trades_since(symbol, since):
                self._collect(await self._from_trade(trade))

    def _collect(self, execution: Execution) -> None:
        """Keep a fill not collected before, and count it against its order."""
        key = (execution.symbol, execution.trade_id)
        if key in self._seen or key in self._pending:
            return
        self._pending[key] = execution
        cid = execution.client_order_id
        self._filled[cid] = self._filled.get(cid, Decimal(0)) + execution.quantity
        expected = self._expected.get(cid)
        if expected is not None and not self._short(cid, expected[1]):
            del self._expected[cid]

    def _release(self) -> list[Execution]:
        """Every collected fill, oldest first; only now are they seen."""
        released = sorted(self._pending.values(), key=lambda e: e.time)
        self._seen.update(self._pending)
        self._pending.clear()
        return released

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
