"""Shared pieces of the risk rules: refusals and the final invariant check."""

from decimal import Decimal

from app.trading.domain import AccountSnapshot, Adjustment, LegVerdict, MarketSnapshot, RiskLimits

ZERO = Decimal(0)


class Rejected(Exception):
    def __init__(self, adjustment: Adjustment) -> None:
        super().__init__(adjustment.reason)
        self.adjustment = adjustment


def reject(rule: str, reason: str, field: str = "action") -> Rejected:
    return Rejected(
        Adjustment(rule=rule, field=field, requested=None, approved=None, reason=reason)
    )


def finite(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value.is_finite() else None


def check_invariants(
    verdict: LegVerdict,
    account: AccountSnapshot,
    market: MarketSnapshot,
    limits: RiskLimits,
    exposure: Decimal,
) -> None:
    """Whatever happened above, an order outside the limits never leaves this module."""
    position = account.positions.get(verdict.proposal.symbol)
    for order in verdict.orders:
        if order.quantity <= 0:
            raise reject("invariant", "an order with no quantity")
        if order.reduce_only and (position is None or order.quantity > position.quantity):
            raise reject("invariant", "a reduce-only order larger than the position")
    if not verdict.proposal.action.opens or not verdict.orders:
        return
    if verdict.leverage is None or not 1 <= verdict.leverage <= limits.max_leverage:
        raise reject("invariant", f"leverage {verdict.leverage} outside 1..{limits.max_leverage}")
    if verdict.notional_usd > limits.max_position_usd:
        raise reject("invariant", "entry above MAX_POSITION_SIZE_USD")
    if verdict.stop_loss is None:
        raise reject("invariant", "entry without a stop loss")
