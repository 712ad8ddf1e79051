"""Paper accounting: fills move positions, realise PnL and charge fees; incomes log every change.

Every change of the wallet is an :class:`Income` record (``REALIZED_PNL``, ``COMMISSION``,
``FUNDING_FEE``, ``INSURANCE_CLEAR``), so the wallet always equals the starting balance plus
the sum of the incomes. Every amount is rounded to :data:`MONEY` (8 decimals, half-even, as
USDT balances are kept), which keeps that sum exact.
"""

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from app.exchange.paper._state import ZERO, Balances, PaperOrder, PaperPosition, PaperState
from app.exchange.ports import AccountState, Execution, PositionState
from app.exchange.types import Income, OrderStatus, Side

ASSET: Final = "USDT"
MONEY: Final = Decimal("1e-8")


def money(amount: Decimal) -> Decimal:
    """``amount`` rounded to the wallet's precision."""
    return amount.quantize(MONEY, rounding=ROUND_HALF_EVEN)


def direction(side: Side) -> int:
    """+1 for a buy, -1 for a sell."""
    return 1 if side is Side.BUY else -1


def reduces(position: PaperPosition | None, side: Side) -> bool:
    """True when an order on ``side`` would shrink ``position``."""
    return position is not None and position.amount * direction(side) < 0


def split(position: PaperPosition | None, side: Side, qty: Decimal) -> tuple[Decimal, Decimal]:
    """The (closing, opening) parts of a fill of ``qty`` on ``side``."""
    if position is None or not reduces(position, side):
        return ZERO, qty
    closing = min(qty, abs(position.amount))
    return closing, qty - closing


def position_margin(position: PaperPosition, leverage: int) -> Decimal:
    """Initial margin of the position: notional at entry / leverage."""
    return abs(position.amount) * position.entry_price / leverage


def unrealized(position: PaperPosition, mark: Decimal) -> Decimal:
    """Unrealised PnL of the position at ``mark``."""
    return position.amount * (mark - position.entry_price)


def leverage_of(state: PaperState, symbol: str) -> int:
    """The symbol's leverage (1 unless set)."""
    return state.leverage.get(symbol, 1)


def account_state(state: PaperState) -> AccountState:
    """Balances at the latest prices (the entry price where none is known yet).

    Computed again only after :meth:`PaperState.balances_changed`; each caller gets its own
    ``positions`` mapping all the same.
    """
    balances = state.balances
    if balances is None or balances.revision != state.revision:
        balances = state.balances = _balances(state)
    return AccountState(
        wallet_balance=balances.wallet,
        equity=balances.equity,
        available_balance=balances.available,
        unrealized_pnl=balances.unrealized_pnl,
        margin_used=balances.margin,
        positions=dict(balances.positions),
    )


def _balances(state: PaperState) -> Balances:
    positions = {}
    upnl = margin = ZERO
    for symbol, p in state.positions.items():
        mark = state.prices.get(symbol, p.entry_price)
        leverage = leverage_of(state, symbol)
        pnl = unrealized(p, mark)
        positions[symbol] = PositionState(symbol, p.amount, p.entry_price, mark, pnl, leverage)
        upnl += pnl
        margin += position_margin(p, leverage)
    equity = state.wallet + upnl
    return Balances(
        state.revision, state.wallet, equity, max(equity - margin, ZERO), upnl, margin, positions
    )


def record_income(
    state: PaperState,
    symbol: str,
    kind: str,
    amount: Decimal,
    now: datetime,
    trade_id: str = "",
) -> Income:
    """Credit (positive) or charge (negative) the wallet and log it."""
    state.wallet += amount
    state.balances_changed()
    state.income_seq += 1
    income = Income(symbol, kind, amount, ASSET, now, f"paper-income-{state.income_seq}", trade_id)
    state.incomes.append(income)
    return income


def apply_fill(
    state: PaperState,
    order: PaperOrder,
    qty: Decimal,
    price: Decimal,
    *,
    fee_rate: Decimal,
    maker: bool,
    now: datetime,
) -> Execution:
    """Execute ``qty`` of ``order`` at ``price``: position, wallet, order and history.

    Reduce-only and margin rules are the caller's; this only does the arithmetic. Protective
    orders the new position no longer needs are expired afterwards.
    """
    symbol, side = order.request.symbol, order.request.side
    pnl = _move_position(state, symbol, side, qty, price)
    fee = money(price * qty * fee_rate)
    state.trade_seq += 1
    trade_id = f"paper-{state.trade_seq}"
    execution = Execution(
        symbol=symbol,
        client_order_id=order.request.client_order_id,
        order_id=order.order_id,
        trade_id=trade_id,
        side=side.value,
        price=price,
        quantity=qty,
        fee=fee,
        fee_asset=ASSET,
        realized_pnl=pnl,
        maker=maker,
        time=now,
    )
    state.executions.append(execution)
    if pnl:
        record_income(state, symbol, "REALIZED_PNL", pnl, now, trade_id)
    if fee:
        record_income(state, symbol, "COMMISSION", -fee, now, trade_id)
    filled = order.executed_qty + qty
    order.avg_price = (order.avg_price * order.executed_qty + price * qty) / filled
    order.executed_qty = filled
    order.status = OrderStatus.FILLED
    order.update_time = now
    expire_stale_protection(state, symbol, now)
    return execution


def expire_stale_protection(state: PaperState, symbol: str, now: datetime) -> None:
    """Expire the symbol's open reduce-only / closePosition orders that can no longer reduce."""
    position = state.positions.get(symbol)
    for order in state.open_orders():
        request = order.request
        if request.symbol != symbol:
            continue
        if (request.reduce_only or request.close_position) and not reduces(position, request.side):
            order.status = OrderStatus.EXPIRED
            order.update_time = now


def _move_position(
    state: PaperState, symbol: str, side: Side, qty: Decimal, price: Decimal
) -> Decimal:
    """Apply a fill to the position; returns the realised PnL of its closing part."""
    state.balances_changed()
    position = state.positions.get(symbol)
    closing, opening = split(position, side, qty)
    signed = qty * direction(side)
    if position is None:
        state.positions[symbol] = PaperPosition(signed, price)
        return ZERO
    pnl = money(closing * (price - position.entry_price) * (1 if position.amount > 0 else -1))
    amount = position.amount + signed
    if amount == 0:
        del state.positions[symbol]
    elif not closing:  # an increase: average the entry
        size = abs(position.amount)
        position.entry_price = (size * position.entry_price + qty * price) / (size + qty)
    elif opening:  # a flip: the remainder opens at the fill price
        position.entry_price = price
    position.amount = amount
    return pnl
