"""Whether the paper exchange accepts an order, and how much of it may fill. Pure.

The same rules run when an order is placed and when a resting one triggers: the symbol is
known and priced, the type is supported, the filters pass, a conditional order would not
trigger at once, a reduce-only order has a position to reduce, and the opening part's margin
and fee fit in the available balance.
"""

from decimal import Decimal
from typing import Final

from app.exchange.errors import InsufficientFunds, OrderRejected
from app.exchange.filters import SymbolFilters
from app.exchange.paper._ledger import account_state, leverage_of, reduces, split
from app.exchange.paper._matching import CONDITIONAL, triggers_now
from app.exchange.paper._state import ZERO, PaperState
from app.exchange.types import OrderRequest, OrderType

SUPPORTED: Final = CONDITIONAL | {OrderType.MARKET, OrderType.LIMIT}


def admit(
    state: PaperState,
    filters: SymbolFilters | None,
    order: OrderRequest,
    *,
    maker_fee: Decimal,
    taker_fee: Decimal,
) -> Decimal:
    """Check ``order`` can be accepted now; returns the symbol's current price.

    Raises:
        OrderRejected: An exchange rule refuses it (AsterDEX's code where it has one).
        InsufficientFunds: A resting order's opening part would not fit in the margin.
    """
    if filters is None:
        raise OrderRejected(f"Invalid symbol {order.symbol}", code=-1121)
    price = state.prices.get(order.symbol)
    if price is None:
        raise OrderRejected(f"{order.symbol}: no price known yet, cannot place orders")
    if order.type not in SUPPORTED:
        raise OrderRejected(f"paper trading does not support {order.type}", code=-1116)
    filters.check(order, mark_price=price)
    if order.type in CONDITIONAL and triggers_now(order, price):
        raise OrderRejected(
            f"{order.symbol} {order.type} at {order.stop_price} would trigger at once "
            f"(price {price})",
            code=-2021,
        )
    if order.type is not OrderType.MARKET:
        at = order.price if order.type is OrderType.LIMIT else order.stop_price
        fee = maker_fee if order.type is OrderType.LIMIT else taker_fee
        executable(state, order, at or price, fee)
    return price


def executable(
    state: PaperState, order: OrderRequest, price: Decimal, fee_rate: Decimal
) -> Decimal:
    """The quantity ``order`` may fill now at ``price``, after reduce-only and margin rules.

    Raises:
        OrderRejected: A reduce-only order has no position to reduce (code -2022).
        InsufficientFunds: The opening part's margin and fee exceed the available balance.
    """
    position = state.positions.get(order.symbol)
    if order.reduce_only or order.close_position:
        if position is None or not reduces(position, order.side):
            raise OrderRejected(
                f"{order.symbol}: ReduceOnly Order is rejected (no position to reduce "
                f"on the {order.side} side)",
                code=-2022,
            )
        size = abs(position.amount)
        if order.close_position or order.quantity is None:
            return size
        return min(order.quantity, size)
    if order.quantity is None:  # filters.check refuses it before; kept for the type
        raise OrderRejected(f"{order.symbol}: a quantity is required")
    closing, opening = split(position, order.side, order.quantity)
    if opening:
        leverage = leverage_of(state, order.symbol)
        required = opening * price / leverage + order.quantity * price * fee_rate
        released = closing * position.entry_price / leverage if position else ZERO
        available = account_state(state).available_balance + released
        if required > available:
            raise InsufficientFunds(
                f"{order.symbol}: Margin is insufficient: the order needs {required} USDT "
                f"(margin at {leverage}x + fee), {available} available",
                code=-2019,
            )
    return order.quantity
