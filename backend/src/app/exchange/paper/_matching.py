"""When and at what price a resting paper order fills within one closed candle. Pure.

A conditional order triggers on the bar's range: a SELL stop or a BUY take-profit when the
price falls to the stop price (``low <= stopPrice``), a BUY stop or a SELL take-profit when it
rises to it (``high >= stopPrice``). It executes at the stop price, or at the bar's open when
the bar opened beyond it (a gap). Within one bar stops go first, then take-profits, then limit
orders, each in order of placement: when a stop and a take-profit could both have triggered,
the bar's path is unknown and the stop is the conservative assumption.
"""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from app.exchange.filters import SymbolFilters
from app.exchange.paper._state import PaperOrder
from app.exchange.types import Kline, OrderRequest, OrderType, Side

CONDITIONAL: Final = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})
_FALLING: Final = frozenset(
    {(Side.SELL, OrderType.STOP_MARKET), (Side.BUY, OrderType.TAKE_PROFIT_MARKET)}
)
_PRIORITY: Final = {OrderType.STOP_MARKET: 0, OrderType.TAKE_PROFIT_MARKET: 1, OrderType.LIMIT: 2}
_BPS: Final = Decimal(10_000)


def priority(order: PaperOrder) -> tuple[int, int]:
    """Sort key of the orders matched against one bar."""
    return _PRIORITY.get(order.request.type, len(_PRIORITY)), order.order_id


def _stop(request: OrderRequest) -> Decimal:
    if request.stop_price is None:
        raise ValueError(f"{request.client_order_id}: a conditional order needs a stop price")
    return request.stop_price


def triggers_now(request: OrderRequest, price: Decimal) -> bool:
    """True when a conditional order would trigger at once at ``price`` (refused, -2021)."""
    stop = _stop(request)
    return price <= stop if (request.side, request.type) in _FALLING else price >= stop


def trigger_price(request: OrderRequest, candle: Kline) -> Decimal | None:
    """The price a conditional order executes at in ``candle`` (before slippage), or None."""
    stop = _stop(request)
    if (request.side, request.type) in _FALLING:
        return min(candle.open, stop) if candle.low <= stop else None
    return max(candle.open, stop) if candle.high >= stop else None


def limit_touched(request: OrderRequest, candle: Kline) -> bool:
    """True when ``candle`` traded at the limit order's price (it then fills at that price)."""
    if request.price is None:
        raise ValueError(f"{request.client_order_id}: a limit order needs a price")
    if request.side is Side.BUY:
        return candle.low <= request.price
    return candle.high >= request.price


def slipped(
    price: Decimal, side: Side, slippage_bps: Decimal, filters: SymbolFilters | None
) -> Decimal:
    """``price`` moved ``slippage_bps`` against a taker, then onto the tick grid against it too."""
    if side is Side.BUY:
        raw = price * (1 + slippage_bps / _BPS)
        rounding = ROUND_CEILING
    else:
        raw = price * (1 - slippage_bps / _BPS)
        rounding = ROUND_FLOOR
    if filters is None:
        return raw
    rounded = filters.round_price(raw, rounding=rounding)
    return rounded if rounded > 0 else raw
