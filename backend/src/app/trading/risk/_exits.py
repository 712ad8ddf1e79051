"""Closes and reductions: always allowed, always reduce-only."""

from app.trading.domain import (
    AccountSnapshot,
    Adjustment,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    OrderPlan,
    Proposal,
)
from app.trading.risk._common import finite, reject


def close(proposal: Proposal, account: AccountSnapshot) -> LegVerdict:
    position = account.positions.get(proposal.symbol)
    if position is None:
        note = Adjustment("no_position", "action", "close", "hold", "no open position to close")
        return LegVerdict(proposal, LegStatus.HOLD, adjustments=(note,))
    order = OrderPlan(
        proposal.symbol,
        position.side.exit_side,
        position.quantity,
        reduce_only=True,
        purpose="close",
    )
    return LegVerdict(proposal, LegStatus.APPROVED, orders=(order,))


def reduce(proposal: Proposal, account: AccountSnapshot, market: MarketSnapshot) -> LegVerdict:
    position = account.positions.get(proposal.symbol)
    if position is None:
        note = Adjustment("no_position", "action", "reduce", "hold", "no open position to reduce")
        return LegVerdict(proposal, LegStatus.HOLD, adjustments=(note,))
    size = finite(proposal.size_usd)
    if size is None or size <= 0:
        raise reject("size_required", "a reduction needs a positive size_usd", "size_usd")
    # Anything beyond the position closes it; clamp first so the division stays small.
    size = min(size, position.quantity * market.mark_price * 2)
    quantity = market.filters.round_quantity(size / market.mark_price, market=True)
    adjustments: list[Adjustment] = []
    if quantity >= position.quantity:
        if quantity > position.quantity:
            adjustments.append(
                Adjustment(
                    "position_size",
                    "size_usd",
                    str(size),
                    str(position.quantity * market.mark_price),
                    "a reduction larger than the position closes it",
                )
            )
        order = OrderPlan(
            proposal.symbol, position.side.exit_side, position.quantity, True, "close"
        )
    else:
        if quantity <= 0 or quantity < market.filters.market_min_qty:
            raise reject(
                "exchange_filters",
                f"reduction of {size} USD is below the exchange's minimum quantity",
                "size_usd",
            )
        order = OrderPlan(proposal.symbol, position.side.exit_side, quantity, True, "reduce")
    status = LegStatus.ADJUSTED if adjustments else LegStatus.APPROVED
    return LegVerdict(proposal, status, orders=(order,), adjustments=tuple(adjustments))
