"""The paper exchange: orders, candle matching, liquidation and funding on one simulated account."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Self

from app.core.clock import Clock
from app.exchange.errors import ExchangeRejected, OrderRejected
from app.exchange.filters import SymbolFilters
from app.exchange.paper._admission import admit, executable
from app.exchange.paper._ledger import (
    account_state,
    apply_fill,
    leverage_of,
    money,
    position_margin,
    record_income,
    unrealized,
)
from app.exchange.paper._matching import (
    limit_touched,
    priority,
    slipped,
    trigger_price,
)
from app.exchange.paper._state import ZERO, PaperOrder, PaperState, dump_state, load_state
from app.exchange.ports import AccountState, Execution
from app.exchange.types import (
    ExchangeOrder,
    Income,
    Kline,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)

MAX_LEVERAGE: Final = 125


class PaperExchange:
    """A simulated AsterDEX futures account (USDT-margined, one-way mode) on real prices.

    Implements :class:`app.exchange.ports.Exchange`, and is the simulated venue its
    :class:`~app.exchange.ports.VenueSimulation` hooks drive: :meth:`on_closed_candle` matches
    the resting orders, :meth:`settle_funding` charges funding. Pure in-memory and
    deterministic: prices come from :meth:`set_price` and :meth:`on_closed_candle`, times from
    the clock, and :meth:`snapshot` / :meth:`restore` carry the whole state across restarts.

    Args:
        clock: Source of every timestamp (tz-aware UTC).
        filters: Trading rules of the symbols the account may trade.
        balance: Starting wallet balance in USDT (ignored by :meth:`restore`).
        taker_fee: Fee rate of MARKET and triggered orders and liquidations.
        maker_fee: Fee rate of LIMIT fills.
        slippage_bps: Basis points a taker fill moves against the taker.
        maintenance_margin: Maintenance margin rate of a position's notional at the mark.
        account: Name of the account, for the caller's logs.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        filters: Mapping[str, SymbolFilters],
        balance: Decimal,
        taker_fee: Decimal = Decimal("0.00035"),
        maker_fee: Decimal = Decimal("0.0001"),
        slippage_bps: Decimal = Decimal("2"),
        maintenance_margin: Decimal = Decimal("0.005"),
        account: str = "paper",
    ) -> None:
        if balance < 0 or min(taker_fee, maker_fee, slippage_bps, maintenance_margin) < 0:
            raise ValueError("balance, fees, slippage and maintenance margin must be >= 0")
        self._clock = clock
        self._filters = dict(filters)
        self._taker_fee = taker_fee
        self._maker_fee = maker_fee
        self._slippage_bps = slippage_bps
        self._maintenance = maintenance_margin
        self.account = account
        self._state = PaperState(wallet=balance)

    @classmethod
    def restore(
        cls,
        data: Mapping[str, Any],
        *,
        clock: Clock,
        filters: Mapping[str, SymbolFilters],
        balance: Decimal,
        taker_fee: Decimal = Decimal("0.00035"),
        maker_fee: Decimal = Decimal("0.0001"),
        slippage_bps: Decimal = Decimal("2"),
        maintenance_margin: Decimal = Decimal("0.005"),
        account: str = "paper",
    ) -> Self:
        """Rebuild an exchange from :meth:`snapshot`; the saved wallet replaces ``balance``.

        Raises:
            ValueError: ``data`` is not a snapshot this version can read.
        """
        exchange = cls(
            clock=clock,
            filters=filters,
            balance=balance,
            taker_fee=taker_fee,
            maker_fee=maker_fee,
            slippage_bps=slippage_bps,
            maintenance_margin=maintenance_margin,
            account=account,
        )
        exchange._state = load_state(dict(data))
        return exchange

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-serialisable data (decimals and times as strings)."""
        return dump_state(self._state)

    # -- prices, candles and funding ------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Set the latest (mark) price, then liquidate the symbol's position if it must be."""
        if price <= 0:
            raise ValueError(f"{symbol}: price must be positive, got {price}")
        self._state.prices[symbol] = price
        if symbol in self._state.positions:  # a mark without a position moves no balance
            self._state.balances_changed()
        self._liquidate_if_needed(symbol)

    async def on_closed_candle(self, candle: Kline) -> None:
        """Match the symbol's resting orders against the bar, then take its close as the price.

        The :class:`~app.exchange.ports.VenueSimulation` hook: this is the venue's matching.

        A candle still forming, or one not newer than the last one seen for the symbol (a
        replay after a restart), is ignored, so no bar is matched twice.
        """
        last = self._state.last_candle.get(candle.symbol)
        if not candle.closed or (last is not None and candle.open_time <= last):
            return
        resting = [o for o in self._open() if o.request.symbol == candle.symbol]
        for order in sorted(resting, key=priority):
            if order.is_open:  # an earlier fill of this bar may have expired it
                self._match(order, candle)
        self._state.last_candle[candle.symbol] = candle.open_time
        self.set_price(candle.symbol, candle.close)

    def apply_funding(self, symbol: str, rate: Decimal, mark: Decimal) -> Decimal:
        """Settle one funding payment: notional at ``mark`` x ``rate``; longs pay when positive.

        Returns:
            The wallet change (rounded to 8 decimals): negative when charged, positive when
            credited, zero without a position (then nothing is recorded).
        """
        position = self._state.positions.get(symbol)
        if position is None:
            return ZERO
        amount = money(-position.amount * mark * rate)
        record_income(self._state, symbol, "FUNDING_FEE", amount, self._clock.now())
        return amount

    async def settle_funding(self, symbol: str, rate: Decimal, mark_price: Decimal) -> Decimal:
        """Funding time passed: charge or credit the position (see :meth:`apply_funding`).

        The :class:`~app.exchange.ports.VenueSimulation` hook: this is the venue's funding.
        """
        return self.apply_funding(symbol, rate, mark_price)

    # -- the Exchange port ----------------------------------------------------------------

    async def symbol_filters(self, symbol: str) -> SymbolFilters:
        """The symbol's trading rules.

        Raises:
            ExchangeRejected: Unknown symbol (-1121).
        """
        try:
            return self._filters[symbol]
        except KeyError:
            raise ExchangeRejected(f"Invalid symbol {symbol}", code=-1121) from None

    async def account_state(self) -> AccountState:
        """Wallet, unrealised PnL at the latest prices, margin in use and open positions."""
        return account_state(self._state)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the symbol's leverage (1-125); it applies to the open position too.

        Raises:
            OrderRejected: Unknown symbol (-1121) or leverage out of range (-4028).
        """
        if symbol not in self._filters:
            raise OrderRejected(f"Invalid symbol {symbol}", code=-1121)
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise OrderRejected(f"Leverage {leverage} is not valid", code=-4028)
        self._state.leverage[symbol] = leverage
        self._state.balances_changed()

    async def place_order(
        self, order: OrderRequest, *, maybe_sent_at_ms: int | None = None
    ) -> ExchangeOrder:
        """Accept ``order`` (a MARKET one fills at once); idempotent on its client id.

        Raises:
            OrderRejected: Unknown symbol (-1121), no price yet, unsupported type (-1116),
                a reduce-only order that cannot reduce (-2022), a stop that would trigger at
                once (-2021); FilterViolation for the symbol's filters.
            InsufficientFunds: The margin and fee of the opening part exceed the available
                balance (-2019).
        """
        known = self._state.orders.get(order.client_order_id)
        if known is not None:
            return known.view()
        price = self._validate(order)
        if order.type is OrderType.MARKET:
            fill_price = self._taker_price(order.symbol, order.side, price)
            qty = self._executable(order, fill_price, self._taker_fee)
            accepted = self._accept(order)
            apply_fill(
                self._state,
                accepted,
                qty,
                fill_price,
                fee_rate=self._taker_fee,
                maker=False,
                now=self._clock.now(),
            )
            return accepted.view()
        return self._accept(order).view()

    def add_filters(self, filters: Mapping[str, SymbolFilters]) -> None:
        """Trade these symbols too (an asset added by hot reload)."""
        self._filters.update(filters)

    async def find_order(
        self, symbol: str, client_order_id: str, *, sent_at: datetime | None = None
    ) -> ExchangeOrder | None:
        """Any order ever accepted under this client id (the paper exchange forgets none)."""
        found = self.order(client_order_id)
        return found if found is not None and found.symbol == symbol else None

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        """Cancel an open order; nothing happens when it is unknown or no longer open."""
        order = self._state.orders.get(client_order_id)
        if order is not None and order.is_open and order.request.symbol == symbol:
            order.status = OrderStatus.CANCELED
            order.update_time = self._clock.now()

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Resting orders, oldest first."""
        return [o.view() for o in self._open() if symbol in (None, o.request.symbol)]

    def _open(self) -> list[PaperOrder]:
        return self._state.open_orders()

    async def executions(self, since: datetime) -> list[Execution]:
        """Fills (liquidations included) since ``since`` (inclusive), oldest first."""
        executions = self._state.executions
        # Appended in clock order, and the clock never goes back: the tail is found from the
        # end, in as many steps as it is long (mostly none, or the fills at ``since``).
        start = len(executions)
        while start and executions[start - 1].time >= since:
            start -= 1
        return executions[start:]

    # -- extras of the paper account ------------------------------------------------------

    def order(self, client_order_id: str) -> ExchangeOrder | None:
        """Any order ever accepted (open, filled, cancelled or expired), by client id."""
        order = self._state.orders.get(client_order_id)
        return order.view() if order is not None else None

    def incomes(self, since: datetime | None = None) -> list[Income]:
        """Every wallet change (PnL, commission, funding, insurance) since ``since``."""
        return [i for i in self._state.incomes if since is None or i.time >= since]

    # -- internals ------------------------------------------------------------------------

    def _validate(self, order: OrderRequest) -> Decimal:
        """Check ``order`` can be accepted now; returns the current price."""
        return admit(
            self._state,
            self._filters.get(order.symbol),
            order,
            maker_fee=self._maker_fee,
            taker_fee=self._taker_fee,
        )

    def _executable(self, order: OrderRequest, price: Decimal, fee_rate: Decimal) -> Decimal:
        """The quantity ``order`` may fill now at ``price`` (see :func:`executable`)."""
        return executable(self._state, order, price, fee_rate)

    def _accept(self, order: OrderRequest) -> PaperOrder:
        now = self._clock.now()
        self._state.order_seq += 1
        accepted = PaperOrder(order, self._state.order_seq, OrderStatus.NEW, now, now)
        self._state.add_order(accepted)
        return accepted

    def _match(self, order: PaperOrder, candle: Kline) -> None:
        request = order.request
        if request.type is OrderType.LIMIT:
            if request.price is None or not limit_touched(request, candle):
                return
            price, fee_rate, maker = request.price, self._maker_fee, True
        else:
            base = trigger_price(request, candle)
            if base is None:
                return
            price = self._taker_price(request.symbol, request.side, base)
            fee_rate, maker = self._taker_fee, False
        now = self._clock.now()
        try:
            qty = self._executable(request, price, fee_rate)
        except OrderRejected:  # the position it protected is gone, or the margin is
            order.status, order.update_time = OrderStatus.EXPIRED, now
            return
        apply_fill(self._state, order, qty, price, fee_rate=fee_rate, maker=maker, now=now)

    def _liquidate_if_needed(self, symbol: str) -> None:
        """Isolated-style check of one position at the mark (see the package docstring)."""
        position = self._state.positions.get(symbol)
        mark = self._state.prices.get(symbol)
        if position is None or mark is None:
            return
        equity = position_margin(position, self._leverage(symbol)) + unrealized(position, mark)
        if equity > self._maintenance * abs(position.amount) * mark:
            return
        self._state.liquidation_seq += 1
        while f"liquidation-{self._state.liquidation_seq}" in self._state.orders:
            self._state.liquidation_seq += 1  # a caller's order took the id: never overwrite it
        request = OrderRequest(
            symbol,
            Side.SELL if position.amount > 0 else Side.BUY,
            OrderType.MARKET,
            f"liquidation-{self._state.liquidation_seq}",
            quantity=abs(position.amount),
            reduce_only=True,
        )
        now = self._clock.now()
        order = self._accept(request)
        apply_fill(
            self._state,
            order,
            abs(position.amount),
            mark,
            fee_rate=self._taker_fee,
            maker=False,
            now=now,
        )
        if self._state.wallet < 0:  # the insurance fund absorbs the deficit
            record_income(self._state, symbol, "INSURANCE_CLEAR", -self._state.wallet, now)

    def _taker_price(self, symbol: str, side: Side, price: Decimal) -> Decimal:
        return slipped(price, side, self._slippage_bps, self._filters.get(symbol))

    def _leverage(self, symbol: str) -> int:
        return leverage_of(self._state, symbol)
