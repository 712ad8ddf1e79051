"""Symbol trading rules (exchange filters): round an order so it passes, or refuse it.

Pure code. The rules are those of ``exchangeInfo`` (specs/asterdex-futures-api.md §3.1):
price and stop price on the tick grid within bounds, quantity on the step grid within bounds
(``MARKET_LOT_SIZE`` too for market-like orders), notional at least ``MIN_NOTIONAL`` unless
reduce-only, and limit prices within ``PERCENT_PRICE`` of the mark price.
"""

from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Final, NoReturn

from app.exchange.errors import FilterViolation
from app.exchange.types import OrderRequest, OrderType, Side

_ZERO: Final = Decimal(0)
_PRECISION: Final = 120
# Orders that execute at the market when they trigger: MARKET_LOT_SIZE applies to them too.
_MARKET_LIKE: Final = frozenset(
    {OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}
)
_WITH_PRICE: Final = frozenset({OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT})
_WITH_STOP: Final = frozenset(
    {OrderType.STOP, OrderType.TAKE_PROFIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}
)


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """One symbol's trading rules. A bound or grid equal to zero is disabled."""

    symbol: str
    status: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    multiplier_up: Decimal | None = None
    multiplier_down: Decimal | None = None

    @classmethod
    def from_exchange_info(cls, entry: dict[str, Any]) -> "SymbolFilters":
        """Build from one ``symbols[]`` entry of ``exchangeInfo``.

        Raises:
            KeyError, ValueError: The entry lacks a required filter or holds a bad number.
        """
        by_type = {f["filterType"]: f for f in entry.get("filters", [])}
        price, lot = by_type["PRICE_FILTER"], by_type["LOT_SIZE"]
        market = by_type.get("MARKET_LOT_SIZE", lot)
        notional = by_type.get("MIN_NOTIONAL", {})
        percent = by_type.get("PERCENT_PRICE")
        return cls(
            symbol=entry["symbol"],
            status=entry.get("status", "TRADING"),
            tick_size=Decimal(price["tickSize"]),
            min_price=Decimal(price["minPrice"]),
            max_price=Decimal(price["maxPrice"]),
            step_size=Decimal(lot["stepSize"]),
            min_qty=Decimal(lot["minQty"]),
            max_qty=Decimal(lot["maxQty"]),
            market_step_size=Decimal(market["stepSize"]),
            market_min_qty=Decimal(market["minQty"]),
            market_max_qty=Decimal(market["maxQty"]),
            min_notional=Decimal(str(notional.get("notional", notional.get("minNotional", "0")))),
            multiplier_up=Decimal(percent["multiplierUp"]) if percent else None,
            multiplier_down=Decimal(percent["multiplierDown"]) if percent else None,
        )

    def round_price(self, price: Decimal, *, rounding: str = ROUND_HALF_UP) -> Decimal:
        """Snap ``price`` to the tick grid (nearest tick by default)."""
        return _snap(price, self.min_price, self.tick_size, rounding)

    def round_quantity(self, quantity: Decimal, *, market: bool = False) -> Decimal:
        """Round ``quantity`` down onto the step grid(s): never more than asked."""
        rounded = _snap(quantity, self.min_qty, self.step_size, ROUND_FLOOR)
        if market and self._market_grid_differs:
            rounded = _snap(rounded, self.market_min_qty, self.market_step_size, ROUND_FLOOR)
        return rounded

    def prepare(self, order: OrderRequest, *, mark_price: Decimal | None = None) -> OrderRequest:
        """Round ``order`` onto the grids, then check every rule.

        Args:
            order: The order as the caller wants it.
            mark_price: Current mark price; needed for the notional of MARKET orders and for
                PERCENT_PRICE. Without it those two checks are skipped.

        Returns:
            The rounded order, which passes every filter.

        Raises:
            FilterViolation: The order cannot pass (quantity rounds below the minimum,
                notional too small, price out of bounds …), with the reason.
        """
        market = order.type in _MARKET_LIKE
        changes: dict[str, Any] = {}
        if order.quantity is not None:
            changes["quantity"] = self.round_quantity(order.quantity, market=market)
        if order.price is not None:
            changes["price"] = self.round_price(order.price)
        if order.stop_price is not None:
            changes["stop_price"] = self.round_price(order.stop_price)
        rounded = replace(order, **changes)
        self.check(rounded, mark_price=mark_price)
        return rounded

    def check(self, order: OrderRequest, *, mark_price: Decimal | None = None) -> None:
        """Raise :class:`FilterViolation` unless ``order`` passes every filter as it is."""
        if self.status != "TRADING":
            self._refuse(order, f"symbol is {self.status}, not TRADING")
        if order.type in _WITH_PRICE and order.price is None:
            self._refuse(order, f"{order.type} needs a price")
        if order.type in _WITH_STOP and order.stop_price is None:
            self._refuse(order, f"{order.type} needs a stop price")
        for name, value in (("price", order.price), ("stop price", order.stop_price)):
            if value is not None:
                self._check_price(order, name, value)
        if order.close_position:
            if order.quantity is not None or order.type not in _WITH_STOP - _WITH_PRICE:
                self._refuse(order, "closePosition goes only with STOP_MARKET/TAKE_PROFIT_MARKET")
            return
        if order.quantity is None:
            self._refuse(order, "a quantity is required")
        self._check_quantity(order, order.quantity, market=order.type in _MARKET_LIKE)
        self._check_notional(order, order.quantity, mark_price)
        self._check_percent_price(order, mark_price)

    @property
    def _market_grid_differs(self) -> bool:
        return (self.market_step_size, self.market_min_qty) != (self.step_size, self.min_qty)

    def _qty_min(self, market: bool) -> Decimal:
        return max(self.min_qty, self.market_min_qty) if market else self.min_qty

    def _qty_max(self, market: bool) -> Decimal:
        if not market:
            return self.max_qty
        bounds = [b for b in (self.max_qty, self.market_max_qty) if b > 0]
        return min(bounds) if bounds else _ZERO

    def _check_price(self, order: OrderRequest, name: str, value: Decimal) -> None:
        if value <= 0:
            self._refuse(order, f"{name} {value} must be positive")
        if self.min_price > 0 and value < self.min_price:
            self._refuse(order, f"{name} {value} is below the minimum {self.min_price}")
        if self.max_price > 0 and value > self.max_price:
            self._refuse(order, f"{name} {value} is above the maximum {self.max_price}")
        if not _on_grid(value, self.min_price, self.tick_size):
            self._refuse(order, f"{name} {value} is not a multiple of the tick {self.tick_size}")

    def _check_quantity(self, order: OrderRequest, qty: Decimal, *, market: bool) -> None:
        minimum, maximum = self._qty_min(market), self._qty_max(market)
        if qty <= 0 or qty < minimum:
            self._refuse(order, f"quantity {qty} is below the minimum {minimum}")
        if maximum > 0 and qty > maximum:
            self._refuse(order, f"quantity {qty} is above the maximum {maximum}")
        grids = [(self.min_qty, self.step_size)]
        if market:
            grids.append((self.market_min_qty, self.market_step_size))
        for base, step in grids:
            if not _on_grid(qty, base, step):
                self._refuse(order, f"quantity {qty} is not a multiple of the step {step}")

    def _check_notional(self, order: OrderRequest, qty: Decimal, mark: Decimal | None) -> None:
        if order.reduce_only or self.min_notional <= 0:
            return
        price = order.price if order.type in _WITH_PRICE else (order.stop_price or mark)
        if order.type is OrderType.MARKET:
            price = mark
        if price is None:
            return
        if qty * price < self.min_notional:
            self._refuse(
                order,
                f"notional {qty * price} is below the minimum {self.min_notional} "
                "(only reduce-only orders are exempt)",
            )

    def _check_percent_price(self, order: OrderRequest, mark: Decimal | None) -> None:
        if order.type is not OrderType.LIMIT or mark is None or order.price is None:
            return
        up, down = self.multiplier_up, self.multiplier_down
        if order.side is Side.BUY and up and order.price > mark * up:
            self._refuse(order, f"buy price {order.price} is too far above the mark {mark}")
        if order.side is Side.SELL and down and order.price < mark * down:
            self._refuse(order, f"sell price {order.price} is too far below the mark {mark}")

    def _refuse(self, order: OrderRequest, reason: str) -> NoReturn:
        raise FilterViolation(f"{self.symbol} {order.side} {order.type}: {reason}")


def _on_grid(value: Decimal, base: Decimal, step: Decimal) -> bool:
    with localcontext() as context:
        context.prec = _PRECISION
        return step <= 0 or (value - base) % step == 0


def _snap(value: Decimal, base: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return value
    if value < base:
        return _ZERO
    with localcontext() as context:
        # Enough digits for any quantity or price a caller can pass (1e30 / 1e-8 included).
        context.prec = _PRECISION
        steps = ((value - base) / step).quantize(Decimal(1), rounding=rounding)
        return (base + steps * step).normalize()
