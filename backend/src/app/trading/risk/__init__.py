"""The risk engine: whatever a provider proposes, only orders inside the limits come out. Pure.

Rules, in the order they apply to an entry (each names its setting in
:class:`~app.trading.domain.RiskLimits`):

1. ``daily_loss_halt``: no entry while the day's loss limit has halted the account.
2. ``no_pyramiding`` / ``min_hold``: no adding to a position, no flip before MIN_HOLD_BARS.
3. ``stop_cooldown``: no entry on a symbol within STOP_COOLDOWN_BARS of a stop-out.
4. ``size_required``, ``stop_required``, ``stop_wrong_side``: an entry needs a positive size
   and a stop loss below (long) / above (short) the mark price.
5. ``max_leverage``: leverage capped at LEVERAGE, whole numbers only.
6. ``min_stop_distance`` / ``max_stop_distance``: the stop is moved out to MIN_STOP_ATR x ATR or
   in to MAX_STOP_DISTANCE_PCT of the price.
7. ``take_profit_wrong_side``: a take profit on the wrong side is dropped.
8. Size, resized (never rejected) while a smaller order is valid: ``max_position_size``,
   ``free_margin`` (at the approved leverage, less a buffer), ``total_exposure``,
   ``max_loss_per_trade`` (loss at the stop as a share of equity).
9. ``exchange_filters``: rounded down to the lot step; refused if below the exchange minimum.

Closes and reductions are always allowed (also when halted) and are reduce-only. A final
invariant check refuses any leg that would break a limit, whatever the code above did.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from app.trading.domain import (
    AccountSnapshot,
    Action,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    Proposal,
    RiskLimits,
    RiskState,
)
from app.trading.risk._common import ZERO, Rejected, check_invariants, reject
from app.trading.risk._entry import entry
from app.trading.risk._exits import close, reduce

__all__ = ["evaluate", "record_stop_out", "roll_day"]


def evaluate(
    proposals: Sequence[Proposal],
    account: AccountSnapshot,
    markets: Mapping[str, MarketSnapshot],
    limits: RiskLimits,
    state: RiskState,
    *,
    now: datetime,
    interval: timedelta,
) -> list[LegVerdict]:
    """Judge every proposal of one decision, in order, sharing margin and exposure.

    Args:
        proposals: One per asset (a second proposal for the same symbol is rejected).
        account: Equity, free margin and open positions now.
        markets: Mark price, ATR and exchange filters per symbol.
        limits: The limits to enforce.
        state: Daily-loss halt and stop-out history.
        now: Decision time.
        interval: The decision interval (bar length for the bar-count rules).

    Returns:
        One verdict per proposal.
    """
    exposure = (
        sum(
            (p.quantity * (markets[s].mark_price if s in markets else p.entry_price))
            for s, p in account.positions.items()
        )
        or ZERO
    )
    free_margin = max(account.available_margin, ZERO)
    seen: set[str] = set()
    verdicts: list[LegVerdict] = []
    for proposal in proposals:
        try:
            if proposal.symbol in seen:
                raise reject("duplicate", f"a second proposal for {proposal.symbol}")
            seen.add(proposal.symbol)
            market = markets.get(proposal.symbol)
            if market is None:
                raise reject("unknown_symbol", f"{proposal.symbol} is not traded by this account")
            verdict = _judge(
                proposal, account, market, limits, state, now, interval, exposure, free_margin
            )
            check_invariants(verdict, account, market, limits, exposure)
        except Rejected as rejected:
            verdict = LegVerdict(proposal, LegStatus.REJECTED, adjustments=(rejected.adjustment,))
        if verdict.proposal.action.opens and verdict.orders:
            entry = verdict.orders[-1]
            exposure += entry.quantity * markets[proposal.symbol].mark_price
            free_margin -= verdict.notional_usd / Decimal(verdict.leverage or 1)
            closed = account.positions.get(proposal.symbol)
            if len(verdict.orders) == 2 and closed is not None:  # a flip closed one first
                exposure -= closed.quantity * markets[proposal.symbol].mark_price
        verdicts.append(verdict)
    return verdicts


def _judge(
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
    if proposal.action is Action.HOLD:
        return LegVerdict(proposal, LegStatus.HOLD)
    if proposal.action is Action.CLOSE:
        return close(proposal, account)
    if proposal.action is Action.REDUCE:
        return reduce(proposal, account, market)
    return entry(proposal, account, market, limits, state, now, interval, exposure, free_margin)


def roll_day(
    state: RiskState | None, equity: Decimal, now: datetime, limits: RiskLimits
) -> RiskState:
    """Start a new UTC day when it changes, and halt entries once the day's loss hits the limit.

    The halt lasts until the next UTC day; the state is persisted by the caller so a restart
    stays halted.
    """
    today = now.date()
    if state is None or state.day != today:
        stop_outs = dict(state.stop_outs) if state else {}
        state = RiskState(day=today, day_start_equity=equity, stop_outs=stop_outs)
    if state.halted or state.day_start_equity <= 0:
        return state
    loss = (state.day_start_equity - equity) / state.day_start_equity
    if loss >= limits.max_daily_loss:
        reason = (
            f"daily loss {loss:.2%} reached the {limits.max_daily_loss:.2%} limit "
            "(MAX_DAILY_LOSS_PCT); entries halted until 00:00 UTC"
        )
        return replace(state, halted=True, halt_reason=reason)
    return state


def record_stop_out(state: RiskState, symbol: str, when: datetime) -> RiskState:
    """Remember a stop-out for the cool-down rule."""
    return replace(state, stop_outs={**state.stop_outs, symbol: when})
