"""Performance metrics: hand-computed values, edge cases and properties over any curve."""

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.trading.performance import (
    EquityPoint,
    Metrics,
    TradeFill,
    compute_metrics,
    max_drawdown_pct,
    round_trips,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
D = Decimal


def curve(*equities: str | Decimal, step: timedelta = DAY) -> list[EquityPoint]:
    return [EquityPoint(at=T0 + i * step, equity=D(e)) for i, e in enumerate(equities)]


def metrics(
    points: Sequence[EquityPoint],
    *,
    bucket: timedelta = DAY,
    realized: Sequence[Decimal] = (),
    trips: Sequence[Decimal] = (),
    llm_cost: str = "0",
    decisions: int = 0,
) -> Metrics:
    return compute_metrics(
        points,
        bucket=bucket,
        realized=realized,
        trips=trips,
        fees=D("1.5"),
        funding=D("-0.25"),
        unrealized=D("7"),
        llm_cost=D(llm_cost),
        decisions=decisions,
    )


def test_return_and_drawdown_of_a_simple_curve() -> None:
    result = metrics(curve("100", "110", "99", "120"))

    assert result.start_equity == D(100)
    assert result.end_equity == D(120)
    assert result.return_pct == D(20)
    assert result.max_drawdown_pct == D(10)  # 110 -> 99


def test_the_deepest_drawdown_wins_even_from_a_later_peak() -> None:
    assert max_drawdown_pct([D(100), D(90), D(200), D(150), D(300), D(150)]) == D(50)


def test_sharpe_and_sortino_by_hand() -> None:
    # Returns +10 %, -10 %, +10 %: mean 1/30, sample variance 1/75, so
    # sharpe per day = (1/30) * sqrt(75) = sqrt(3)/6; downside deviation
    # = sqrt(0.01 / 3) = 0.1/sqrt(3), so sortino per day = (1/30) / (0.1/sqrt(3)) = sqrt(3)/3.
    result = metrics(curve("100", "110", "99", "108.9"))

    assert result.sharpe == pytest.approx(math.sqrt(3) / 6 * math.sqrt(365))
    assert result.sortino == pytest.approx(math.sqrt(3) / 3 * math.sqrt(365))


def test_annualisation_follows_the_bucket_width() -> None:
    daily = metrics(curve("100", "110", "99", "108.9"), bucket=DAY)
    hourly = metrics(curve("100", "110", "99", "108.9", step=HOUR), bucket=HOUR)

    assert daily.sharpe is not None
    assert hourly.sharpe == pytest.approx(daily.sharpe * math.sqrt(24))
    assert hourly.sharpe == pytest.approx(math.sqrt(3) / 6 * math.sqrt(8760))


def test_trade_figures_count_round_trips_net_of_fees() -> None:
    result = metrics(curve("100"), realized=[D(3), D(9)], trips=[D(10), D(-5), D(20), D(-15)])

    assert result.trades == 4
    assert result.win_rate == D("0.5")
    assert result.profit_factor == D("1.5")  # 30 / 20
    assert result.realized_pnl == D(12)  # the fills' own figure, before fees


def test_costs_and_given_figures_pass_through() -> None:
    result = metrics(curve("100"), llm_cost="0.9", decisions=3)

    assert (result.fees, result.funding, result.unrealized_pnl) == (D("1.5"), D("-0.25"), D(7))
    assert (result.llm_cost_usd, result.decisions) == (D("0.9"), 3)
    assert result.cost_per_decision == D("0.3")


def test_an_empty_curve_has_no_curve_metrics() -> None:
    result = metrics([], llm_cost="1")

    assert result.start_equity is None
    assert result.end_equity is None
    assert result.return_pct is None
    assert result.max_drawdown_pct is None
    assert result.sharpe is None
    assert result.sortino is None
    assert result.win_rate is None
    assert result.profit_factor is None
    assert result.cost_per_decision is None
    assert (result.trades, result.realized_pnl) == (0, D(0))


def test_one_point_has_no_return_series() -> None:
    result = metrics(curve("250"))

    assert result.return_pct == D(0)
    assert result.max_drawdown_pct == D(0)
    assert result.sharpe is None
    assert result.sortino is None


def test_two_points_give_one_return_which_is_not_enough() -> None:
    result = metrics(curve("100", "90"))

    assert result.max_drawdown_pct == D(10)
    assert (result.sharpe, result.sortino) == (None, None)


@pytest.mark.parametrize(
    "equities",
    [("100", "100", "100"), ("100", "110", "121", "133.1")],
    ids=["flat", "steady-growth"],
)
def test_zero_deviation_gives_no_ratio(equities: tuple[str, ...]) -> None:
    result = metrics(curve(*equities))

    assert result.sharpe is None
    assert result.sortino is None  # no negative return either


def test_without_a_loss_there_is_no_profit_factor_nor_sortino() -> None:
    result = metrics(curve("100", "101", "103", "104"), trips=[D(3), D(1)])

    assert result.profit_factor is None
    assert result.win_rate == D(1)
    assert result.sortino is None
    assert result.sharpe is not None
    assert result.sharpe > 0


def test_only_losses() -> None:
    result = metrics(curve("100"), trips=[D(-3), D(-1)])

    assert result.win_rate == D(0)
    assert result.profit_factor == D(0)


def test_a_non_positive_start_has_no_return() -> None:
    result = metrics(curve("0", "10", "5"))

    assert result.return_pct is None
    assert result.max_drawdown_pct == D(50)


@pytest.mark.parametrize("bucket", [timedelta(0), timedelta(minutes=-5)])
def test_the_bucket_must_be_positive(bucket: timedelta) -> None:
    with pytest.raises(ValueError, match="bucket must be positive"):
        metrics(curve("100"), bucket=bucket)


positive = st.decimals(min_value=D("0.01"), max_value=D("1e12"), places=2)
buckets = st.sampled_from([timedelta(minutes=1), HOUR, timedelta(hours=4), DAY, 7 * DAY])


@given(
    equities=st.lists(positive, max_size=60),
    bucket=buckets,
    trips=st.lists(st.decimals(min_value=-1000, max_value=1000, places=4), max_size=20),
)
def test_metrics_never_raise_on_a_positive_curve(
    equities: list[Decimal], bucket: timedelta, trips: list[Decimal]
) -> None:
    result = metrics(curve(*equities), bucket=bucket, trips=trips, decisions=len(trips))

    if not equities:
        assert result.max_drawdown_pct is None
        return
    assert result.max_drawdown_pct is not None
    assert 0 <= result.max_drawdown_pct <= 100
    assert result.return_pct == (equities[-1] - equities[0]) / equities[0] * 100
    assert (result.return_pct > 0) == (equities[-1] > equities[0])
    if all(b >= a for a, b in pairwise(equities)):
        assert result.max_drawdown_pct == 0
    for ratio in (result.sharpe, result.sortino):
        assert ratio is None or math.isfinite(ratio)
    if result.win_rate is not None:
        assert 0 <= result.win_rate <= 1
    assert result.trades == len(trips)


def fill(quantity: str, pnl: str = "0", fee: str = "0", symbol: str = "BTCUSDT") -> TradeFill:
    return TradeFill(symbol, D(quantity), D(pnl), D(fee), T0)


def test_a_round_trip_of_several_fills_is_one_trade_net_of_all_its_fees() -> None:
    trips = round_trips(
        [
            fill("0.2", fee="0.5"),  # open
            fill("0.1", fee="0.25"),  # add
            fill("-0.1", pnl="3", fee="0.25"),  # reduce in profit
            fill("-0.2", pnl="1", fee="0.5"),  # flat
        ]
    )

    assert [t.net_pnl for t in trips] == [D("2.5")]  # 3 + 1 - 1.5 of fees


def test_a_fill_in_profit_can_still_be_a_losing_trade_after_fees() -> None:
    (trip,) = round_trips([fill("1", fee="2"), fill("-1", pnl="3", fee="2")])

    assert trip.net_pnl == D(-1)


def test_a_reversal_closes_one_trip_and_opens_the_next_with_its_share_of_the_fee() -> None:
    trips = round_trips(
        [
            fill("1", fee="1"),
            fill("-3", pnl="10", fee="3"),  # 1 closes the long, 2 open a short
            fill("2", pnl="-4", fee="2"),
        ]
    )

    assert [t.net_pnl for t in trips] == [D(8), D(-8)]  # 10 - 1 - 1; -4 - 2 - 2


def test_symbols_are_separate_positions_and_open_ones_are_no_trade_yet() -> None:
    trips = round_trips(
        [
            fill("1", fee="1"),
            fill("5", fee="1", symbol="ETHUSDT"),
            fill("-1", pnl="4", fee="1"),
        ]
    )

    assert [(t.symbol, t.net_pnl) for t in trips] == [("BTCUSDT", D(2))]


def test_a_close_of_a_position_opened_before_the_record_is_a_trip_of_its_own() -> None:
    trips = round_trips([fill("-1", pnl="5", fee="1"), fill("1", fee="1")])

    assert [t.net_pnl for t in trips] == [D(4)]  # the second fill opens a new position


quantities = st.decimals(min_value=D("-5"), max_value=D(5), places=3).filter(lambda q: q != 0)
fees = st.decimals(min_value=D(0), max_value=D(50), places=8)
pnls = st.decimals(min_value=D(-1000), max_value=D(1000), places=8)


@st.composite
def flat_fill_sequences(draw: st.DrawFn) -> list[TradeFill]:
    """Fills over two symbols, each left flat at the end; PnL only where a position shrinks."""
    fills: list[TradeFill] = []
    held = {"BTCUSDT": D(0), "ETHUSDT": D(0)}
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        symbol = draw(st.sampled_from(sorted(held)))
        quantity = draw(quantities)
        shrinks = held[symbol] != 0 and (quantity > 0) != (held[symbol] > 0)
        pnl = draw(pnls) if shrinks else D(0)
        fills.append(TradeFill(symbol, quantity, pnl, draw(fees), T0))
        held[symbol] += quantity
    for symbol, amount in held.items():
        if amount != 0:
            fills.append(TradeFill(symbol, -amount, draw(pnls), draw(fees), T0))
    return fills


@given(flat_fill_sequences())
def test_round_trips_add_up_to_realized_pnl_minus_fees(fills: list[TradeFill]) -> None:
    trips = round_trips(fills)

    assert sum((t.net_pnl for t in trips), D(0)) == sum(
        (f.realized_pnl - f.fee for f in fills), D(0)
    )


@given(flat_fill_sequences())
def test_every_return_to_flat_is_one_trade(fills: list[TradeFill]) -> None:
    held: dict[str, Decimal] = {}
    flats = 0
    for f in fills:
        before = held.get(f.symbol, D(0))
        held[f.symbol] = before + f.quantity
        reversed_ = before != 0 and held[f.symbol] != 0 and (held[f.symbol] > 0) != (before > 0)
        flats += (before != 0 and held[f.symbol] == 0) or reversed_

    assert len(round_trips(fills)) == flats
