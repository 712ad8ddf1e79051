"""Orders against candles: acceptance rules, fills, triggers, expiry and funding.

Prices: the current price and the mark price are both the close of the last closed bar, so
``workingType`` makes no difference. A taker fill moves that price by ``slippage_bps`` against
the taker (rounded to the tick, away from the taker); with zero slippage it is exact.

Acceptance rules live in ``_acceptance``.

Matching: MARKET fills at once (taker). A LIMIT order that is marketable on arrival fills at
once as taker at the better of its price and the current price (GTX: EXPIRED instead);
IOC/FOK that are not marketable expire; the rest rest. Every later bar (a bar whose close comes
after the order was placed, so the bar forming at placement counts) is matched when it closes:
a resting LIMIT fills completely at its own price as maker when the bar's range reaches it
(optionally capped at ``fill_volume_share`` of the bar volume, leaving it PARTIALLY_FILLED).
STOP*/TAKE_PROFIT* trigger per spec §3.3 on the bar's high/low and fill as taker at the stop
price, or at the bar's open when the bar opened beyond it (a gap). Within one bar, stop-type
orders (STOP, STOP_MARKET, TRAILING_STOP_MARKET) are worked first, then everything else, each
group by order id: if a stop and a take-profit could both trigger in the same bar, the stop
wins (the pessimistic reading of an unknown intra-bar path). A triggered STOP/TAKE_PROFIT
becomes a limit order (filled at once as taker if marketable at the trigger price). Trailing
stops work per bar: the trigger uses the extreme of *earlier* bars, then the bar updates it.

Reduce-only and closePosition orders fill at most the position's size, never flip it, and are
EXPIRED as soon as they could no longer reduce (position flat or on their side). Fills of one
bar carry the bar's close instant (open + interval) as their time.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ._acceptance import check_acceptance, margin_ok
from ._accounts import STOP_FAMILY, FakeAccount, FakeOrder, FakeTrade
from ._ledger import (
    AccountFigures,
    IdSource,
    account_figures,
    apply_fill,
    apply_funding,
    position_figures,
)
from ._market import Bar, SymbolSeries
from ._numbers import ZERO, ceil_to, floor_to
from ._symbols import FakeSymbolSpec
from ._validation import OrderRequest
from ._wire import Json, account_update_event, order_json, order_update_event

UserEventSink = Callable[[FakeAccount, Json], None]


@dataclass(frozen=True, slots=True)
class Costs:
    """Fee rates (fractions of notional), slippage in basis points, optional fill cap."""

    maker_fee: Decimal
    taker_fee: Decimal
    slippage_bps: Decimal
    fill_volume_share: Decimal | None = None


def fires_upward(order: FakeOrder) -> bool:
    """Whether the order triggers on a rising price (STOP BUY, TAKE_PROFIT SELL)."""
    return (order.type in STOP_FAMILY) == (order.side == "BUY")


def gap_fill(upward: bool, level: Decimal, bar: Bar) -> Decimal | None:
    """The fill price when ``bar`` reaches ``level``: the level, or the open past it."""
    if upward:
        if bar.open >= level:
            return bar.open
        return level if bar.high >= level else None
    if bar.open <= level:
        return bar.open
    return level if bar.low <= level else None


class MatchingEngine:
    """Every account's orders and positions against every symbol's candles."""

    def __init__(
        self,
        series: Mapping[str, SymbolSeries],
        specs: Mapping[str, FakeSymbolSpec],
        costs: Costs,
        ids: IdSource,
        sink: UserEventSink,
    ) -> None:
        self.series = series
        self.specs = dict(specs)
        self.costs = costs
        self.ids = ids
        self.accounts: list[FakeAccount] = []
        self._sink = sink

    # -- prices and figures -------------------------------------------------------------------

    def price(self, symbol: str, now_ms: int) -> Decimal:
        """Current (and mark) price."""
        return self.series[symbol].price(now_ms)

    def figures(self, account: FakeAccount, now_ms: int) -> AccountFigures:
        """Margin and PnL totals of ``account`` at the current marks."""
        marks = {symbol: self.price(symbol, now_ms) for symbol in account.positions}
        return account_figures(account, marks, self.specs)

    def _taker_price(self, side: str, base: Decimal, symbol: str) -> Decimal:
        bps = self.costs.slippage_bps
        if bps == 0:
            return base
        tick = self.specs[symbol].tick_size
        if side == "BUY":
            return ceil_to(base * (1 + bps / 10_000), tick)
        return floor_to(base * (1 - bps / 10_000), tick)

    # -- acceptance ---------------------------------------------------------------------------

    def place(self, account: FakeAccount, req: OrderRequest, now_ms: int) -> tuple[FakeOrder, Json]:
        """Accept (or reject) a new order and match what can match now.

        Returns the order and its ACK snapshot (its state at acceptance, before any fill).
        """
        spec = self.specs[req.symbol]
        price = self.price(req.symbol, now_ms)
        check_acceptance(account, req, spec, price, lambda: self.figures(account, now_ms))
        order_id = self.ids.order()
        order = FakeOrder(
            order_id=order_id,
            client_order_id=req.client_order_id or f"fake-{order_id}",
            symbol=req.symbol,
            side="BUY" if req.side == "BUY" else "SELL",
            type=req.type,
            status="NEW",
            orig_qty=req.quantity or ZERO,
            price=req.price or ZERO,
            stop_price=req.stop_price or ZERO,
            time_in_force=req.time_in_force,
            reduce_only=req.reduce_only,
            close_position=req.close_position,
            working_type=req.working_type,
            price_protect=req.price_protect,
            time=now_ms,
            update_time=now_ms,
            activation_price=req.activation_price,
            callback_rate=req.callback_rate,
        )
        if order.type == "TRAILING_STOP_MARKET" and order.activation_price is None:
            order.activation_price = price
            order.trail_extreme = price
        account.orders.append(order)
        ack = order_json(order, spec, placed=True)
        self._emit_order(account, order, "NEW", now_ms)
        if order.type == "MARKET":
            self._take(account, order, price, now_ms)
        elif order.type == "LIMIT":
            self._arrive_limit(account, order, price, now_ms)
        return order, ack

    # -- immediate matching -------------------------------------------------------------------

    def _fillable(self, account: FakeAccount, order: FakeOrder) -> Decimal:
        """How much of ``order`` may fill now (reduce-only: at most the position)."""
        if not (order.reduce_only or order.close_position):
            return order.remaining
        position = account.positions[order.symbol].amount
        reduces = position < 0 if order.side == "BUY" else position > 0
        if not reduces:
            return ZERO
        if order.close_position:
            return abs(position)
        return min(order.remaining, abs(position))

    def _take(self, account: FakeAccount, order: FakeOrder, base: Decimal, now_ms: int) -> None:
        """Fill as taker around ``base``; expire what cannot fill."""
        qty = self._fillable(account, order)
        if order.close_position:
            order.orig_qty = qty
        if qty > 0:
            price = self._taker_price(order.side, base, order.symbol)
            if order.type in ("LIMIT", "STOP", "TAKE_PROFIT"):
                price = min(price, order.price) if order.side == "BUY" else max(price, order.price)
            self._fill(account, order, qty, price, maker=False, time_ms=now_ms)
        if order.is_open and order.type != "LIMIT" and not order.triggered:
            self._finish(account, order, "EXPIRED", now_ms)
        self._sweep(account, order.symbol, now_ms)

    def _arrive_limit(
        self, account: FakeAccount, order: FakeOrder, price: Decimal, now_ms: int
    ) -> None:
        marketable = order.price >= price if order.side == "BUY" else order.price <= price
        tif = order.time_in_force
        if marketable and tif == "GTX":
            self._finish(account, order, "EXPIRED", now_ms)
        elif marketable:
            if tif == "FOK" and self._fillable(account, order) < order.remaining:
                self._finish(account, order, "EXPIRED", now_ms)
                return
            self._take(account, order, price, now_ms)
            if order.is_open and tif in ("IOC", "FOK"):
                self._finish(account, order, "EXPIRED", now_ms)
        elif tif in ("IOC", "FOK"):
            self._finish(account, order, "EXPIRED", now_ms)

    # -- bar matching -------------------------------------------------------------------------

    def on_bar(self, symbol: str, bar: Bar) -> None:
        """Work every open order of ``symbol`` against a bar that just closed."""
        time_ms = bar.open_time_ms + bar.interval_ms
        for account in self.accounts:
            queue = sorted(
                account.open_orders(symbol),
                key=lambda o: (o.type not in STOP_FAMILY or o.triggered, o.order_id),
            )
            for order in queue:
                if order.is_open and order.time < time_ms:
                    self._work(account, order, bar, time_ms)

    def _work(self, account: FakeAccount, order: FakeOrder, bar: Bar, time_ms: int) -> None:
        if order.type == "LIMIT" or order.triggered:
            self._rest_limit(account, order, bar, time_ms)
        elif order.type == "TRAILING_STOP_MARKET":
            self._trail(account, order, bar, time_ms)
        else:
            fill_at = gap_fill(fires_upward(order), order.stop_price, bar)
            if fill_at is not None:
                self._trigger(account, order, fill_at, time_ms)

    def _rest_limit(self, account: FakeAccount, order: FakeOrder, bar: Bar, time_ms: int) -> None:
        reached = bar.low <= order.price if order.side == "BUY" else bar.high >= order.price
        if not reached:
            return
        qty = self._fillable(account, order)
        share = self.costs.fill_volume_share
        if share is not None:
            qty = min(qty, floor_to(bar.volume * share, self.specs[order.symbol].step_size))
        if qty > 0:
            self._fill(account, order, qty, order.price, maker=True, time_ms=time_ms)
        self._sweep(account, order.symbol, time_ms)

    def _trigger(self, account: FakeAccount, order: FakeOrder, at: Decimal, time_ms: int) -> None:
        if order.type in ("STOP", "TAKE_PROFIT"):
            order.triggered = True
            order.update_time = time_ms
            marketable = order.price >= at if order.side == "BUY" else order.price <= at
            if marketable:
                self._take(account, order, at, time_ms)
            return
        qty = self._fillable(account, order)
        reducing = order.reduce_only or order.close_position
        if not reducing and not margin_ok(
            account.positions[order.symbol], order.side, qty, at, self.figures(account, time_ms)
        ):
            self._finish(account, order, "EXPIRED", time_ms)
            return
        self._take(account, order, at, time_ms)

    def _trail(self, account: FakeAccount, order: FakeOrder, bar: Bar, time_ms: int) -> None:
        rate = (order.callback_rate or ZERO) / 100
        selling = order.side == "SELL"
        extreme = order.trail_extreme
        if extreme is not None:
            level = extreme * (1 - rate) if selling else extreme * (1 + rate)
            fill_at = gap_fill(not selling, level, bar)
            if fill_at is not None:
                self._trigger(account, order, fill_at, time_ms)
                return
        activation = order.activation_price or ZERO
        if extreme is None:
            activated = bar.high >= activation if selling else bar.low <= activation
            if not activated:
                return
            extreme = bar.high if selling else bar.low
        order.trail_extreme = max(extreme, bar.high) if selling else min(extreme, bar.low)

    # -- bookkeeping --------------------------------------------------------------------------

    def _fill(
        self,
        account: FakeAccount,
        order: FakeOrder,
        qty: Decimal,
        price: Decimal,
        *,
        maker: bool,
        time_ms: int,
    ) -> None:
        fee = self.costs.maker_fee if maker else self.costs.taker_fee
        trade = apply_fill(
            account, order, qty, price, fee_rate=fee, maker=maker, time_ms=time_ms, ids=self.ids
        )
        # The balance/position change goes out first, then the execution report.
        self._emit_account(account, "ORDER", order.symbol, time_ms)
        self._emit_order(account, order, "TRADE", time_ms, trade)

    def cancel(self, account: FakeAccount, order: FakeOrder, now_ms: int) -> None:
        """Cancel an open order."""
        self._finish(account, order, "CANCELED", now_ms)

    def _finish(self, account: FakeAccount, order: FakeOrder, status: str, time_ms: int) -> None:
        order.status = status
        order.update_time = time_ms
        self._emit_order(account, order, status, time_ms)

    def _sweep(self, account: FakeAccount, symbol: str, time_ms: int) -> None:
        """Expire reduce-only/closePosition orders that can no longer reduce anything."""
        for order in account.open_orders(symbol):
            if (order.reduce_only or order.close_position) and not self._fillable(account, order):
                self._finish(account, order, "EXPIRED", time_ms)

    def on_funding(self, symbol: str, time_ms: int, rate: Decimal) -> None:
        """Settle funding for every open position of ``symbol``."""
        mark = self.price(symbol, time_ms)
        for account in self.accounts:
            income = apply_funding(account, symbol, mark, rate, time_ms=time_ms, ids=self.ids)
            if income is None:
                continue
            isolated = account.positions[symbol].margin_type == "ISOLATED"
            self._emit_account(account, "FUNDING_FEE", symbol if isolated else None, time_ms)

    def _emit_order(
        self,
        account: FakeAccount,
        order: FakeOrder,
        execution: str,
        time_ms: int,
        trade: FakeTrade | None = None,
    ) -> None:
        bids = asks = ZERO
        for other in account.open_orders(order.symbol):
            if other.type == "LIMIT":
                notional = other.remaining * other.price
                if other.side == "BUY":
                    bids += notional
                else:
                    asks += notional
        event = order_update_event(
            order,
            self.specs[order.symbol],
            execution=execution,
            time_ms=time_ms,
            trade=trade,
            book_notional=(bids, asks),
        )
        self._sink(account, event)

    def _emit_account(
        self, account: FakeAccount, reason: str, symbol: str | None, time_ms: int
    ) -> None:
        positions = []
        if symbol is not None:
            position = account.positions[symbol]
            figures = position_figures(position, self.price(symbol, time_ms), self.specs[symbol])
            positions.append((position, figures))
        self._sink(account, account_update_event(account, reason, positions, time_ms))
