"""Entry rules: halts, churn guards, leverage, stop and target, sizing, exchange filters."""

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from app.exchange.errors import FilterViolation
from app.exchange.types import OrderRequest, OrderType
from app.trading.domain import (
    AccountSnapshot,
    Action,
    Adjustment,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    OrderPlan,
    PositionSide,
    Proposal,
    RiskLimits,
    RiskState,
)
from app.trading.risk._common import ZERO, finite, reject


def entry(
    proposal: Proposal,
    account: AccountSnapshot,
    market: MarketSnapshot,
    limits: RiskLimits,
    state: RiskState,
    now: datetime,
    interval: timedelta,
    exposure: Decimal,
    free_margin: Decimal,
) -> LegVerdict:
    side = PositionSide.LONG if proposal.action is Action.OPEN_LONG else PositionSide.SHORT
    if state.halted:
        raise reject("daily_loss_halt", state.halt_reason or "entries are halted for today")
    flip_quantity = _churn_guards(proposal, side, account, limits, state, now, interval)
    mark = market.mark_price
    size = finite(proposal.size_usd)
    if size is None or size <= 0:
        raise reject("size_required", "an entry needs a positive size_usd", "size_usd")
    adjustments: list[Adjustment] = []
    leverage = _leverage(proposal, limits, adjustments)
    stop = _stop(proposal, side, market, limits, adjustments)
    take_profit = _take_profit(proposal, side, market, adjustments)
    released = flip_quantity * mark
    room = limits.max_total_exposure_usd - (exposure - released)
    loss_per_usd = abs(mark - stop) / mark
    caps = (
        ("max_position_size", limits.max_position_usd, "MAX_POSITION_SIZE_USD"),
        ("free_margin", free_margin * (1 - limits.margin_buffer) * leverage, "free margin"),
        ("total_exposure", room, "MAX_TOTAL_EXPOSURE_USD"),
        (
            "max_loss_per_trade",
            account.equity * limits.max_loss_per_trade / loss_per_usd,
            "MAX_LOSS_PER_TRADE_PCT",
        ),
    )
    for rule, cap, setting in caps:
        if size > cap:
            cap = max(cap, ZERO)
            adjustments.append(
                Adjustment(
                    rule, "size_usd", str(size), str(cap), f"size cut to {cap:.2f} USD by {setting}"
                )
            )
            size = cap
    quantity = _quantity(proposal, side, size, market, adjustments)
    orders: list[OrderPlan] = []
    if flip_quantity > 0:
        # Flatten the opposite position first: its exit side is the new entry side.
        orders.append(OrderPlan(proposal.symbol, side.entry_side, flip_quantity, True, "close"))
    orders.append(OrderPlan(proposal.symbol, side.entry_side, quantity, False, "entry"))
    return LegVerdict(
        proposal,
        LegStatus.ADJUSTED if adjustments else LegStatus.APPROVED,
        orders=tuple(orders),
        leverage=leverage,
        stop_loss=stop,
        take_profit=take_profit,
        notional_usd=quantity * mark,
        adjustments=tuple(adjustments),
    )


def _churn_guards(
    proposal: Proposal,
    side: PositionSide,
    account: AccountSnapshot,
    limits: RiskLimits,
    state: RiskState,
    now: datetime,
    interval: timedelta,
) -> Decimal:
    """Apply the pyramiding, flip and cool-down rules; return the quantity a flip closes."""
    position = account.positions.get(proposal.symbol)
    flip = ZERO
    if position is not None and position.side is side and not limits.allow_pyramiding:
        raise reject(
            "no_pyramiding", f"already {side} {proposal.symbol}; adding is off (ALLOW_PYRAMIDING)"
        )
    if position is not None and position.side is not side:
        held = (now - position.opened_at) / interval
        if held < limits.min_hold_bars:
            raise reject(
                "min_hold",
                f"{position.side} {proposal.symbol} held {held:.1f} bars; "
                f"no flip before {limits.min_hold_bars} (MIN_HOLD_BARS)",
            )
        flip = position.quantity
    stopped = state.stop_outs.get(proposal.symbol)
    if stopped is not None and now - stopped < interval * limits.stop_cooldown_bars:
        raise reject(
            "stop_cooldown",
            f"{proposal.symbol} was stopped out at "
            f"{stopped.isoformat()}; cooling down for "
            f"{limits.stop_cooldown_bars} bars (STOP_COOLDOWN_BARS)",
        )
    return flip


def _leverage(proposal: Proposal, limits: RiskLimits, adjustments: list[Adjustment]) -> int:
    requested = finite(proposal.leverage)
    wanted = requested if requested is not None and requested >= 1 else limits.max_leverage
    approved = int(min(wanted, limits.max_leverage).to_integral_value(rounding=ROUND_FLOOR))
    approved = max(approved, 1)
    if requested is None or Decimal(approved) != requested:
        adjustments.append(
            Adjustment(
                "max_leverage",
                "leverage",
                None if requested is None else str(requested),
                str(approved),
                f"leverage {approved}x (LEVERAGE cap " f"{limits.max_leverage}x, whole numbers)",
            )
        )
    return approved


def _stop(
    proposal: Proposal,
    side: PositionSide,
    market: MarketSnapshot,
    limits: RiskLimits,
    adjustments: list[Adjustment],
) -> Decimal:
    mark = market.mark_price
    stop = finite(proposal.stop_loss)
    if stop is None or stop <= 0:
        raise reject("stop_required", "every entry needs a stop loss", "stop_loss")
    below = side is PositionSide.LONG
    if (below and stop >= mark) or (not below and stop <= mark):
        where = "below" if below else "above"
        raise reject(
            "stop_wrong_side",
            f"a {side} stop must be {where} the mark price {mark}, got {stop}",
            "stop_loss",
        )
    sign = -1 if below else 1
    minimum = (market.atr or ZERO) * limits.min_stop_atr
    maximum = mark * limits.max_stop_distance
    if minimum > maximum:
        raise reject(
            "stop_band_empty",
            f"ATR {market.atr} is too wide for a stop within "
            f"{limits.max_stop_distance:.0%} of the price",
            "stop_loss",
        )
    distance = abs(mark - stop)
    target = min(max(distance, minimum), maximum)
    rounded = market.filters.round_price(mark + sign * target)
    if (below and rounded >= mark) or (not below and rounded <= mark) or rounded <= 0:
        rounded = market.filters.round_price(mark + sign * maximum)
    if target != distance:
        rule = "min_stop_distance" if target > distance else "max_stop_distance"
        reason = (
            f"stop moved to {MIN_STOP_ATR_TEXT.format(limits.min_stop_atr)}"
            if rule == "min_stop_distance"
            else f"stop moved within {limits.max_stop_distance:.2%} of the price "
            "(MAX_STOP_DISTANCE_PCT)"
        )
        adjustments.append(Adjustment(rule, "stop_loss", str(stop), str(rounded), reason))
    return rounded


MIN_STOP_ATR_TEXT = "{} x ATR from the price (MIN_STOP_ATR)"


def _take_profit(
    proposal: Proposal, side: PositionSide, market: MarketSnapshot, adjustments: list[Adjustment]
) -> Decimal | None:
    target = finite(proposal.take_profit)
    if proposal.take_profit is None:
        return None
    mark = market.mark_price
    above = side is PositionSide.LONG
    if (
        target is None
        or target <= 0
        or (above and target <= mark)
        or (not above and target >= mark)
    ):
        adjustments.append(
            Adjustment(
                "take_profit_wrong_side",
                "take_profit",
                str(proposal.take_profit),
                None,
                f"a {side} take profit must be "
                f"{'above' if above else 'below'} the mark price {mark}; "
                "dropped",
            )
        )
        return None
    rounded = market.filters.round_price(target)
    return rounded if (rounded > mark) == above and rounded != mark else None


def _quantity(
    proposal: Proposal,
    side: PositionSide,
    size: Decimal,
    market: MarketSnapshot,
    adjustments: list[Adjustment],
) -> Decimal:
    mark = market.mark_price
    if size <= 0:
        raise reject("no_room", "no margin, exposure or loss budget left for an entry", "size_usd")
    quantity = market.filters.round_quantity(size / mark, market=True)
    limit = market.filters.market_max_qty
    if limit > 0 and quantity > limit:
        adjustments.append(
            Adjustment(
                "exchange_max_qty",
                "size_usd",
                str(size),
                str(limit * mark),
                "capped at the exchange's maximum",
            )
        )
        quantity = market.filters.round_quantity(limit, market=True)
    request = OrderRequest(
        proposal.symbol, side.entry_side, OrderType.MARKET, "risk-check", quantity=quantity
    )
    try:
        market.filters.check(request, mark_price=mark)
    except FilterViolation as exc:
        raise reject(
            "exchange_filters", f"{size:.2f} USD cannot be a valid order: {exc}", "size_usd"
        ) from exc
    return quantity
