"""Whether an account may place an order (the checks after the symbol filters).

In this order: hedge mode, or a LONG/SHORT position side, is -4061 (the fake trades one-way
only); a client order id equal to one of the account's *open* orders on the symbol is -4116 (a
filled or cancelled order frees its id); reduce-only and closePosition orders that would not
reduce the current position (flat counts) are -2022; STOP*/TAKE_PROFIT* orders whose stop
price the current price already satisfies are -2021 (trailing stops: an activation price on
the wrong side); too many open orders on the symbol is -2025, too many conditional ones -4045;
MARKET and LIMIT orders whose opening part needs more initial margin
(``qty * price / leverage``, the current price for MARKET) than is available are -2019.
Conditional orders reserve nothing here; they are margin-checked when they trigger.
"""

from collections.abc import Callable
from decimal import Decimal

from ._accounts import STOP_FAMILY, FakeAccount, FakePosition
from ._errors import (
    DUPLICATE_CLIENT_ID,
    MARGIN_INSUFFICIENT,
    MAX_ALGO_ORDERS,
    MAX_OPEN_ORDERS,
    POSITION_SIDE_MISMATCH,
    REDUCE_ONLY_REJECT,
    WOULD_TRIGGER,
    error,
)
from ._ledger import AccountFigures, opening_quantity
from ._symbols import FakeSymbolSpec
from ._validation import OrderRequest


def check_acceptance(
    account: FakeAccount,
    req: OrderRequest,
    spec: FakeSymbolSpec,
    price: Decimal,
    figures: Callable[[], AccountFigures],
) -> None:
    """Raise the first rule ``req`` breaks; ``figures`` is only computed for the margin check."""
    if account.dual_side_position or req.position_side not in (None, "BOTH"):
        raise error(POSITION_SIDE_MISMATCH)
    open_orders = account.open_orders(req.symbol)
    if req.client_order_id and any(o.client_order_id == req.client_order_id for o in open_orders):
        raise error(DUPLICATE_CLIENT_ID)
    if req.reduce_only or req.close_position:
        amount = account.positions[req.symbol].amount
        reduces = amount < 0 if req.side == "BUY" else amount > 0
        if not reduces:
            raise error(REDUCE_ONLY_REJECT)
    if would_trigger(req, price):
        raise error(WOULD_TRIGGER)
    if len(open_orders) >= spec.max_num_orders:
        raise error(MAX_OPEN_ORDERS)
    is_algo = req.type not in ("LIMIT", "MARKET")
    if is_algo and sum(o.is_algo for o in open_orders) >= spec.max_num_algo_orders:
        raise error(MAX_ALGO_ORDERS)
    if req.type in ("MARKET", "LIMIT") and not req.reduce_only and req.quantity is not None:
        level = price if req.type == "MARKET" else (req.price or price)
        if not margin_ok(account.positions[req.symbol], req.side, req.quantity, level, figures()):
            raise error(MARGIN_INSUFFICIENT)


def would_trigger(req: OrderRequest, price: Decimal) -> bool:
    """Whether a conditional order's trigger is already met at ``price`` (spec §3.3 rules)."""
    if req.type == "TRAILING_STOP_MARKET":
        level = req.activation_price
        if level is None:
            return False
        return level >= price if req.side == "BUY" else level <= price
    if req.stop_price is None:
        return False
    upward = (req.type in STOP_FAMILY) == (req.side == "BUY")
    return price >= req.stop_price if upward else price <= req.stop_price


def margin_ok(
    position: FakePosition, side: str, qty: Decimal, level: Decimal, figures: AccountFigures
) -> bool:
    """Whether the opening part of ``qty`` at ``level`` fits the available margin."""
    opening = opening_quantity(position, side, qty)
    if opening == 0:
        return True
    return opening * level / position.leverage <= figures.available
