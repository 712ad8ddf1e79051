"""New-order parameters: syntax, per-type requirements and the symbol filters.

Checks that need only the request and the market (this module) run before checks that need the
account (``_matching``). Order of the filter checks: prices (positive -4001/-4006, decimals
-1111, bounds -4013/-4002/-4007, tick -4014), then quantity (positive -4003, decimals -1111,
LOT_SIZE or, for market-type orders, MARKET_LOT_SIZE bounds -4004/-4005, step -4023), then
PERCENT_PRICE for LIMIT prices against the mark (-4016/-4024), then MIN_NOTIONAL (-4164; the
notional uses the limit price, the stop price for STOP_MARKET/TAKE_PROFIT_MARKET, and the mark
price for MARKET; reduce-only and closePosition orders are exempt).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ._errors import (
    BAD_CLIENT_ID,
    BAD_ORDER_TYPE,
    BAD_POSITION_SIDE,
    BAD_PRECISION,
    BAD_RESP_TYPE,
    BAD_SIDE,
    BAD_SYMBOL,
    BAD_TIF,
    BAD_WORKING_TYPE,
    PRICE_ABOVE_MAX,
    PRICE_BELOW_MIN,
    PRICE_NOT_POSITIVE,
    PRICE_TICK,
    QTY_ABOVE_MAX,
    QTY_BELOW_MIN,
    QTY_NOT_POSITIVE,
    QTY_STEP,
    QTY_WITH_CLOSE_POSITION,
    STOP_ABOVE_MAX,
    STOP_NOT_POSITIVE,
    ApiError,
    error,
    invalid_param,
    mandatory,
    not_required,
)
from ._numbers import decimal_places, is_multiple
from ._params import Params
from ._symbols import ORDER_TYPES, TIME_IN_FORCE, FakeSymbolSpec

CLIENT_ORDER_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
MARKET_TYPES = frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
_NEEDS = {
    "LIMIT": ("timeInForce", "quantity", "price"),
    "MARKET": ("quantity",),
    "STOP": ("quantity", "price", "stopPrice"),
    "TAKE_PROFIT": ("quantity", "price", "stopPrice"),
    "STOP_MARKET": ("stopPrice",),
    "TAKE_PROFIT_MARKET": ("stopPrice",),
    "TRAILING_STOP_MARKET": ("callbackRate", "quantity"),
}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A syntactically valid new-order request."""

    symbol: str
    side: str
    type: str
    position_side: str | None
    time_in_force: str
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    client_order_id: str | None
    working_type: str
    price_protect: bool
    resp_type: str
    activation_price: Decimal | None
    callback_rate: Decimal | None


def _choice(
    params: Params, name: str, options: tuple[str, ...], bad: tuple[int, str]
) -> str | None:
    value = params.optional(name)
    if value is not None and value not in options:
        raise error(bad)
    return value


def parse_order(params: Params, specs: Mapping[str, FakeSymbolSpec]) -> OrderRequest:
    """Parse New Order parameters; raise the documented error for the first problem."""
    symbol = params.require("symbol")
    if symbol not in specs:
        raise error(BAD_SYMBOL)
    side = _choice(params, "side", ("BUY", "SELL"), BAD_SIDE) or params.require("side")
    order_type = _choice(params, "type", ORDER_TYPES, BAD_ORDER_TYPE) or params.require("type")
    position_side = _choice(params, "positionSide", ("BOTH", "LONG", "SHORT"), BAD_POSITION_SIDE)
    tif = _choice(params, "timeInForce", TIME_IN_FORCE, BAD_TIF)
    working = _choice(params, "workingType", ("MARK_PRICE", "CONTRACT_PRICE"), BAD_WORKING_TYPE)
    resp = _choice(params, "newOrderRespType", ("ACK", "RESULT"), BAD_RESP_TYPE)
    client_id = params.optional("newClientOrderId")
    if client_id is not None and not CLIENT_ORDER_ID_RE.match(client_id):
        raise error(BAD_CLIENT_ID)
    close_position = params.boolean("closePosition")
    reduce_only = params.boolean("reduceOnly")
    if close_position:
        if order_type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise not_required("closePosition")
        if "quantity" in params:
            raise error(QTY_WITH_CLOSE_POSITION)
        if reduce_only:
            raise not_required("reduceOnly")
    needs = _NEEDS[order_type]
    for name in needs:
        if name == "quantity" and close_position:
            continue
        params.require(name)
    if order_type in ("STOP_MARKET", "TAKE_PROFIT_MARKET") and not close_position:
        params.require("quantity")
    if order_type in MARKET_TYPES and "price" in params:
        raise not_required("price")
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        position_side=position_side,
        time_in_force=tif or "GTC",
        quantity=params.optional_decimal("quantity"),
        price=params.optional_decimal("price"),
        stop_price=params.optional_decimal("stopPrice"),
        reduce_only=reduce_only,
        close_position=close_position,
        client_order_id=client_id,
        working_type=working or "CONTRACT_PRICE",
        price_protect=params.boolean("priceProtect"),
        resp_type=resp or "ACK",
        activation_price=params.optional_decimal("activationPrice"),
        callback_rate=params.optional_decimal("callbackRate"),
    )


def _check_price(
    value: Decimal, spec: FakeSymbolSpec, low: tuple[int, str], high: tuple[int, str]
) -> None:
    if value <= 0:
        raise error(low)
    if decimal_places(value) > spec.price_precision:
        raise error(BAD_PRECISION)
    if value < spec.min_price:
        raise error(PRICE_BELOW_MIN)
    if value > spec.max_price:
        raise error(high)
    if not is_multiple(value, spec.min_price, spec.tick_size):
        raise error(PRICE_TICK)


def _check_quantity(req: OrderRequest, quantity: Decimal, spec: FakeSymbolSpec) -> None:
    if quantity <= 0:
        raise error(QTY_NOT_POSITIVE)
    if decimal_places(quantity) > spec.quantity_precision:
        raise error(BAD_PRECISION)
    max_qty = spec.market_max_qty if req.type in MARKET_TYPES else spec.max_qty
    if quantity < spec.min_qty:
        raise error(QTY_BELOW_MIN)
    if quantity > max_qty:
        raise error(QTY_ABOVE_MAX)
    if not is_multiple(quantity, spec.min_qty, spec.step_size):
        raise error(QTY_STEP)


def _notional_price(req: OrderRequest, mark: Decimal) -> Decimal:
    if req.type == "MARKET":
        return mark
    if req.type in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
        assert req.stop_price is not None
        return req.stop_price
    if req.type == "TRAILING_STOP_MARKET":
        return req.activation_price or mark
    assert req.price is not None
    return req.price


def check_filters(req: OrderRequest, spec: FakeSymbolSpec, mark: Decimal) -> None:
    """Apply the symbol's filters to ``req`` (see the module docstring for the order)."""
    if req.price is not None:
        _check_price(req.price, spec, PRICE_NOT_POSITIVE, PRICE_ABOVE_MAX)
    if req.stop_price is not None:
        _check_price(req.stop_price, spec, STOP_NOT_POSITIVE, STOP_ABOVE_MAX)
    if req.activation_price is not None:
        _check_price(req.activation_price, spec, PRICE_NOT_POSITIVE, PRICE_ABOVE_MAX)
    if req.callback_rate is not None and not Decimal("0.1") <= req.callback_rate <= 5:
        raise invalid_param("callbackRate")
    if req.quantity is not None:
        _check_quantity(req, req.quantity, spec)
    if req.type == "LIMIT" and req.price is not None:
        cap = mark * spec.multiplier_up
        floor = mark * spec.multiplier_down
        if req.side == "BUY" and req.price > cap:
            raise ApiError(-4016, f"Limit price can't be higher than {spec.price_text(cap)}.")
        if req.side == "SELL" and req.price < floor:
            raise ApiError(-4024, f"Limit price can't be lower than {spec.price_text(floor)}.")
    if req.reduce_only or req.close_position or req.quantity is None:
        return
    if req.quantity * _notional_price(req, mark) < spec.min_notional:
        raise ApiError(
            -4164,
            f"Order's notional must be no smaller than {spec.min_notional} "
            "(unless you choose reduce only).",
        )


def require_quantity(req: OrderRequest) -> Decimal:
    """The quantity of an order that must carry one."""
    if req.quantity is None:
        raise mandatory("quantity")
    return req.quantity
