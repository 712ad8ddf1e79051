"""Money: fills into positions and the wallet, funding payments, margin and PnL figures.

Accounting is cross-margin for every position (a position marked ISOLATED is reported as such,
but has no wallet of its own). Commission is ``qty * price * rate`` rounded to 8 decimals;
realized PnL is booked when a fill reduces a position; the wallet moves by realized PnL minus
commission, and by funding. There is no liquidation engine: the liquidation price is only an
estimate for display.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

from ._accounts import FakeAccount, FakeIncome, FakeOrder, FakePosition, FakeTrade
from ._numbers import ZERO, round8, sign
from ._symbols import FakeSymbolSpec


class IdSource:
    """Exchange-wide counters: ids are unique across accounts, as on a real venue."""

    def __init__(self) -> None:
        self._orders = count(100_000_001)
        self._trades = count(5_000_001)
        self._income = count(9_000_000_001)
        self._keys = count(1)

    def order(self) -> int:
        """Next order id."""
        return next(self._orders)

    def trade(self) -> int:
        """Next trade id."""
        return next(self._trades)

    def income(self) -> int:
        """Next income ``tranId``."""
        return next(self._income)

    def key_serial(self) -> int:
        """Next serial for listen-key generation."""
        return next(self._keys)


@dataclass(frozen=True, slots=True)
class PositionFigures:
    """Mark-dependent figures of one position."""

    mark: Decimal
    notional: Decimal
    unrealized: Decimal
    initial_margin: Decimal
    maint_margin: Decimal


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """Mark-dependent totals of one account."""

    wallet: Decimal
    unrealized: Decimal
    position_margin: Decimal
    order_margin: Decimal
    maint_margin: Decimal
    positions: dict[str, PositionFigures]

    @property
    def margin_balance(self) -> Decimal:
        """Wallet plus unrealized PnL."""
        return self.wallet + self.unrealized

    @property
    def available(self) -> Decimal:
        """What new orders may still commit as initial margin."""
        return self.margin_balance - self.position_margin - self.order_margin


def position_figures(
    position: FakePosition, mark: Decimal, spec: FakeSymbolSpec
) -> PositionFigures:
    """Notional, unrealized PnL and margins of ``position`` at ``mark``."""
    notional = position.amount * mark
    unrealized = (mark - position.entry_price) * position.amount if position.amount else ZERO
    return PositionFigures(
        mark=mark,
        notional=notional,
        unrealized=unrealized,
        initial_margin=abs(notional) / position.leverage,
        maint_margin=abs(notional) * spec.maint_margin_ratio,
    )


def order_margin(order: FakeOrder, leverage: int) -> Decimal:
    """Initial margin a resting order reserves: only plain LIMIT orders that may open."""
    if order.type != "LIMIT" or order.reduce_only or order.triggered:
        return ZERO
    return order.remaining * order.price / leverage


def account_figures(
    account: FakeAccount, marks: Mapping[str, Decimal], specs: Mapping[str, FakeSymbolSpec]
) -> AccountFigures:
    """Everything the balance/account endpoints report, at the given mark prices."""
    positions = {
        symbol: position_figures(position, marks[symbol], specs[symbol])
        for symbol, position in account.positions.items()
    }
    reserved = sum(
        (order_margin(o, account.positions[o.symbol].leverage) for o in account.open_orders()),
        ZERO,
    )
    return AccountFigures(
        wallet=account.balance,
        unrealized=sum((p.unrealized for p in positions.values()), ZERO),
        position_margin=sum((p.initial_margin for p in positions.values()), ZERO),
        order_margin=reserved,
        maint_margin=sum((p.maint_margin for p in positions.values()), ZERO),
        positions=positions,
    )


def opening_quantity(position: FakePosition, side: str, qty: Decimal) -> Decimal:
    """The part of an order that would open or grow a position (the rest only reduces)."""
    signed = qty if side == "BUY" else -qty
    if position.amount == 0 or sign(position.amount) == sign(signed):
        return qty
    return max(ZERO, qty - abs(position.amount))


def apply_fill(
    account: FakeAccount,
    order: FakeOrder,
    qty: Decimal,
    price: Decimal,
    *,
    fee_rate: Decimal,
    maker: bool,
    time_ms: int,
    ids: IdSource,
) -> FakeTrade:
    """Book one fill: order progress, position, wallet, trade and income rows."""
    position = account.positions[order.symbol]
    signed = qty if order.side == "BUY" else -qty
    old = position.amount
    realized = ZERO
    new = old + signed
    if old == 0 or sign(old) == sign(signed):
        position.entry_price = (abs(old) * position.entry_price + qty * price) / abs(new)
    else:
        realized = (price - position.entry_price) * min(qty, abs(old)) * sign(old)
        if new == 0:
            position.entry_price = ZERO
        elif sign(new) != sign(old):
            position.entry_price = price
    position.amount = new
    position.realized_pnl += realized
    position.update_time = time_ms
    commission = round8(qty * price * fee_rate)
    account.balance += realized - commission
    account.update_time = time_ms
    order.executed_qty += qty
    order.cum_quote += qty * price
    order.status = "FILLED" if order.executed_qty == order.orig_qty else "PARTIALLY_FILLED"
    order.update_time = time_ms
    trade = FakeTrade(
        trade_id=ids.trade(),
        order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        price=price,
        qty=qty,
        quote_qty=qty * price,
        commission=commission,
        realized_pnl=realized,
        maker=maker,
        time=time_ms,
    )
    account.trades.append(trade)
    trade_ref = str(trade.trade_id)
    if realized:
        account.income.append(
            FakeIncome(ids.income(), order.symbol, "REALIZED_PNL", realized, time_ms, trade_ref)
        )
    if commission:
        account.income.append(
            FakeIncome(ids.income(), order.symbol, "COMMISSION", -commission, time_ms, trade_ref)
        )
    return trade


def apply_funding(
    account: FakeAccount,
    symbol: str,
    mark: Decimal,
    rate: Decimal,
    *,
    time_ms: int,
    ids: IdSource,
) -> FakeIncome | None:
    """Charge or pay funding on the position: longs pay a positive rate, shorts receive it."""
    position = account.positions[symbol]
    if position.amount == 0:
        return None
    income = FakeIncome(
        ids.income(), symbol, "FUNDING_FEE", round8(-position.amount * mark * rate), time_ms
    )
    account.balance += income.income
    account.update_time = time_ms
    account.income.append(income)
    return income


def liquidation_price(position: FakePosition, wallet: Decimal, spec: FakeSymbolSpec) -> Decimal:
    """Rough cross-margin liquidation price of this position alone (display only)."""
    amount = position.amount
    if amount == 0:
        return ZERO
    ratio = spec.maint_margin_ratio
    factor = (1 - ratio) if amount > 0 else (1 + ratio)
    estimate = (amount * position.entry_price - wallet) / (amount * factor)
    return max(ZERO, estimate)
