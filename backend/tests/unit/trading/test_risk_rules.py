"""Each risk rule, by example: requested vs approved and the rule that cut it."""

from datetime import timedelta
from decimal import Decimal

import pytest

from app.trading.domain import (
    AccountSnapshot,
    Action,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    Position,
    PositionSide,
    Proposal,
    RiskLimits,
    RiskState,
)
from app.trading.risk import evaluate, record_stop_out, roll_day

from .strategies import FILTERS, HOUR, NOW

MARKET = {"BTCUSDT": MarketSnapshot(Decimal(60_000), Decimal(600), FILTERS["BTCUSDT"])}
LIMITS = RiskLimits(
    max_position_usd=Decimal(10_000),
    max_leverage=Decimal(3),
    max_total_exposure_usd=Decimal(30_000),
)
ACCOUNT = AccountSnapshot(equity=Decimal(50_000), available_margin=Decimal(50_000))
STATE = RiskState(day=NOW.date(), day_start_equity=Decimal(50_000))


def judge(
    proposal: Proposal,
    account: AccountSnapshot = ACCOUNT,
    limits: RiskLimits = LIMITS,
    state: RiskState = STATE,
) -> LegVerdict:
    (verdict,) = evaluate([proposal], account, MARKET, limits, state, now=NOW, interval=HOUR)
    return verdict


def long(**kw: object) -> Proposal:
    fields: dict[str, object] = {
        "size_usd": Decimal(5000),
        "leverage": Decimal(2),
        "stop_loss": Decimal(58_800),
        "take_profit": Decimal(63_000),
    }
    fields.update(kw)
    return Proposal("BTCUSDT", Action.OPEN_LONG, **fields)  # type: ignore[arg-type]


def rules(verdict: LegVerdict) -> list[str]:
    return [a.rule for a in verdict.adjustments]


def test_a_sane_entry_is_approved_as_asked() -> None:
    verdict = judge(long())

    assert verdict.status is LegStatus.APPROVED
    assert verdict.leverage == 2
    (order,) = verdict.orders
    assert order.quantity == Decimal("0.083")  # 5000 / 60000 rounded down to the step
    assert verdict.stop_loss == Decimal(58_800)
    assert verdict.take_profit == Decimal(63_000)


def test_size_is_cut_not_rejected_and_the_rule_is_recorded() -> None:
    verdict = judge(long(size_usd=Decimal(50_000), leverage=Decimal(10)))

    assert verdict.status is LegStatus.ADJUSTED
    assert rules(verdict) == ["max_leverage", "max_position_size"]
    assert verdict.leverage == 3
    assert verdict.notional_usd <= LIMITS.max_position_usd
    cut = verdict.adjustments[1]
    assert (cut.requested, cut.approved) == ("50000", "10000")


def test_free_margin_and_loss_per_trade_shrink_the_size() -> None:
    poor = AccountSnapshot(equity=Decimal(1_500), available_margin=Decimal(1_000))

    verdict = judge(long(size_usd=Decimal(9_000)), account=poor)

    assert "free_margin" in rules(verdict)
    assert "max_loss_per_trade" in rules(verdict)
    (order,) = verdict.orders
    assert verdict.stop_loss is not None
    assert order.quantity * (Decimal(60_000) - verdict.stop_loss) <= Decimal(30) + Decimal("0.1")


@pytest.mark.parametrize(
    ("proposal", "rule"),
    [
        (long(stop_loss=None), "stop_required"),
        (long(stop_loss=Decimal(61_000)), "stop_wrong_side"),
        (long(size_usd=None), "size_required"),
        (long(size_usd=Decimal(-5)), "size_required"),
        (long(size_usd=Decimal("NaN")), "size_required"),
        (long(size_usd=Decimal(1)), "exchange_filters"),
        (Proposal("DOGEUSDT", Action.OPEN_LONG, Decimal(100)), "unknown_symbol"),
    ],
)
def test_entries_that_cannot_be_made_safe_are_rejected(proposal: Proposal, rule: str) -> None:
    verdict = judge(proposal)

    assert verdict.status is LegStatus.REJECTED
    assert verdict.orders == ()
    assert rules(verdict) == [rule]
    assert verdict.rejection


def test_stops_are_moved_into_the_allowed_band() -> None:
    near = judge(long(stop_loss=Decimal(59_990)))
    far = judge(long(stop_loss=Decimal(30_000)))

    assert "min_stop_distance" in rules(near)
    assert near.stop_loss == Decimal(59_700)  # 0.5 ATR below the mark
    assert "max_stop_distance" in rules(far)
    assert far.stop_loss == Decimal(54_000)  # 10 % below the mark


def test_a_take_profit_on_the_wrong_side_is_dropped() -> None:
    verdict = judge(long(take_profit=Decimal(59_000)))

    assert verdict.take_profit is None
    assert rules(verdict) == ["take_profit_wrong_side"]
    assert verdict.orders


def test_daily_loss_halt_blocks_entries_but_not_closes() -> None:
    halted = roll_day(STATE, Decimal(47_000), NOW, LIMITS)
    position = Position("BTCUSDT", PositionSide.LONG, Decimal("0.1"), Decimal(61_000), NOW)
    account = AccountSnapshot(Decimal(47_000), Decimal(40_000), {"BTCUSDT": position})

    entry = judge(long(), state=halted)
    close = judge(Proposal("BTCUSDT", Action.CLOSE), account=account, state=halted)

    assert halted.halted
    assert "6.00%" in (halted.halt_reason or "")
    assert rules(entry) == ["daily_loss_halt"]
    assert close.status is LegStatus.APPROVED
    assert close.orders[0].reduce_only
    assert roll_day(halted, Decimal(47_000), NOW + timedelta(days=1), LIMITS).halted is False


def test_churn_guards() -> None:
    young_short = Position(
        "BTCUSDT", PositionSide.SHORT, Decimal("0.05"), Decimal(61_000), NOW - HOUR
    )
    old_short = Position(
        "BTCUSDT", PositionSide.SHORT, Decimal("0.05"), Decimal(61_000), NOW - 5 * HOUR
    )
    same = Position("BTCUSDT", PositionSide.LONG, Decimal("0.05"), Decimal(59_000), NOW - HOUR)

    def holding(p: Position) -> AccountSnapshot:
        return AccountSnapshot(Decimal(50_000), Decimal(45_000), {"BTCUSDT": p})

    assert rules(judge(long(), account=holding(young_short))) == ["min_hold"]
    flip = judge(long(), account=holding(old_short))
    assert [o.purpose for o in flip.orders] == ["close", "entry"]
    assert flip.orders[0].quantity == Decimal("0.05")
    assert rules(judge(long(), account=holding(same))) == ["no_pyramiding"]
    stopped = record_stop_out(STATE, "BTCUSDT", NOW - HOUR)
    assert rules(judge(long(), state=stopped)) == ["stop_cooldown"]


def test_reduce_and_close() -> None:
    position = Position("BTCUSDT", PositionSide.LONG, Decimal("0.1"), Decimal(59_000), NOW)
    account = AccountSnapshot(Decimal(50_000), Decimal(45_000), {"BTCUSDT": position})

    part = judge(Proposal("BTCUSDT", Action.REDUCE, Decimal(3000)), account=account)
    whole = judge(Proposal("BTCUSDT", Action.REDUCE, Decimal(99_000)), account=account)
    nothing = judge(Proposal("BTCUSDT", Action.CLOSE))

    assert part.orders[0].quantity == Decimal("0.05")
    assert part.orders[0].purpose == "reduce"
    assert whole.orders[0].quantity == Decimal("0.1")
    assert rules(whole) == ["position_size"]
    assert nothing.status is LegStatus.HOLD
    assert nothing.orders == ()
