"""Backtest metrics: hand-computed curves and trips, empty inputs, properties over any input."""

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.backtest.metrics import (
    BacktestMetrics,
    Bar,
    InvalidReportInputs,
    ReportInputs,
    buy_and_hold_pct,
    cagr_pct,
    compute_metrics,
    drawdown_curve,
    max_drawdown_duration,
    metrics_json,
)
from app.trading.performance import (
    EquityPoint,
    TradeFill,
    max_drawdown_pct,
    round_trips,
    sharpe_ratio,
    sortino_ratio,
)

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
YEAR = timedelta(days=365)


def points(*equities: str, step: timedelta = DAY, first: int = 1) -> list[EquityPoint]:
    return [EquityPoint(at=T0 + (first + i) * step, equity=D(e)) for i, e in enumerate(equities)]


def inputs(
    equity: Sequence[EquityPoint] = (),
    *,
    end: datetime = T0 + YEAR,
    initial: str = "100",
    fills: Sequence[TradeFill] = (),
    exposed: Sequence[bool] | None = None,
    candles: Mapping[str, Sequence[Bar]] | None = None,
    interval: str = "1d",
    llm_cost: str = "0",
    decisions: int = 0,
) -> ReportInputs:
    return ReportInputs(
        start=T0,
        end=end,
        initial_balance=D(initial),
        equity=equity,
        fills=fills,
        funding=D("-0.75"),
        exposed=[False] * len(equity) if exposed is None else exposed,
        llm_cost_usd=D(llm_cost),
        decisions=decisions,
        candles=candles or {},
        interval=interval,
    )


def fill(symbol: str, quantity: str, realized: str, fee: str, day: int) -> TradeFill:
    return TradeFill(symbol, D(quantity), D(realized), D(fee), T0 + day * DAY)


def bar(day: int, open_: str, close: str) -> Bar:
    o, c = D(open_), D(close)
    return Bar(open_time=T0 + day * DAY, open=o, high=max(o, c), low=min(o, c), close=c)


# --- hand-computed ------------------------------------------------------------------------


def test_a_known_curve_over_one_year() -> None:
    # 100 -> 110 -> 99 -> 105 -> 121: +21 %, a 10 % fall from 110, back above it 3 days later.
    result = compute_metrics(inputs(points("110", "99", "105", "121")))

    assert result.start_equity == D(100)
    assert result.end_equity == D(121)
    assert result.total_return_pct == D(21)
    assert result.cagr_pct == D(21)  # the window is exactly one year
    assert result.max_drawdown_pct == D(10)
    assert result.max_drawdown_duration == 3 * DAY
    assert result.calmar == pytest.approx(2.1)
    assert result.funding == D("-0.75")


def test_cagr_compounds_down_over_two_years_and_up_over_half_a_year() -> None:
    assert cagr_pct(D(100), D(121), 2 * YEAR) == D(10)
    assert cagr_pct(D(100), D(110), YEAR / 2) == D(21)
    assert cagr_pct(D(100), D(0), YEAR) == D(-100)


def test_cagr_is_undefined_for_a_bad_start_a_negative_end_or_an_absurd_annualisation() -> None:
    assert cagr_pct(D(0), D(121), YEAR) is None
    assert cagr_pct(D(100), D(-1), YEAR) is None
    assert cagr_pct(D(100), D(121), timedelta(0)) is None
    # +100 % in one minute, compounded over a year: 2^525600 has no place in a report.
    assert cagr_pct(D(100), D(200), timedelta(minutes=1)) is None


def test_a_drawdown_still_open_at_the_end_lasts_until_the_last_point() -> None:
    curve = points("120", "110", "90", "119", step=DAY)  # peak at day 1, last point day 4

    assert max_drawdown_duration([EquityPoint(T0, D(100)), *curve]) == 3 * DAY


def test_the_longest_of_several_drawdowns_counts() -> None:
    curve = points("90", "100", "101", "95", "96", "97", "102")  # 1 day under, then 4

    assert max_drawdown_duration([EquityPoint(T0, D(100)), *curve]) == 4 * DAY
    assert max_drawdown_duration(points("1", "2", "3")) == timedelta(0)
    assert max_drawdown_duration([]) == timedelta(0)


def test_the_first_tick_at_the_window_start_replaces_the_initial_balance() -> None:
    result = compute_metrics(inputs(points("100", "90", first=0)))

    assert result.start_equity == D(100)
    assert result.max_drawdown_duration == DAY


def test_round_trips_are_judged_after_fees() -> None:
    fills = [
        fill("BTCUSDT", "1", "0", "1", 1),
        fill("BTCUSDT", "-1", "10", "1", 2),  # +10 before fees, +8 after
        fill("ETHUSDT", "-2", "0", "0.5", 3),
        fill("ETHUSDT", "2", "-4", "0.5", 4),  # -4 before fees, -5 after
        fill("SOLUSDT", "5", "0", "1", 5),
        fill("SOLUSDT", "-5", "1", "1", 6),  # wins before fees, loses 1 after
    ]
    result = compute_metrics(inputs(fills=fills))

    assert result.trades == 3
    assert result.win_rate == D(1) / D(3)
    assert result.profit_factor == D(8) / D(6)
    assert result.average_win == D(8)
    assert result.average_loss == D(-3)
    assert result.expectancy == D(2) / D(3)
    assert result.fees == D(5)


def test_exposure_costs_and_buy_and_hold() -> None:
    candles = {
        "BTCUSDT": [bar(1, "110", "115"), bar(0, "100", "110"), bar(2, "115", "120")],
        "ETHUSDT": [bar(0, "50", "48"), bar(1, "48", "45")],
        "SOLUSDT": [],
    }
    result = compute_metrics(
        inputs(
            points("100", "101", "102", "103"),
            exposed=[True, False, True, True],
            candles=candles,
            llm_cost="1.5",
            decisions=4,
        )
    )

    assert result.exposure_pct == D(75)
    assert result.llm_cost_usd == D("1.5")
    assert result.cost_per_decision == D("0.375")
    assert result.buy_and_hold_pct == {"BTCUSDT": D(20), "ETHUSDT": D(-10), "SOLUSDT": None}
    assert result.buy_and_hold_basket_pct == D(5)


def test_sharpe_and_sortino_are_annualised_by_the_interval() -> None:
    curve = points("101", "99", "102", "100", step=HOUR)
    result = compute_metrics(inputs(curve, interval="1h"))

    equities = [D(100), D(101), D(99), D(102), D(100)]
    returns = [b / a - 1 for a, b in itertools.pairwise(equities)]
    assert result.sharpe == sharpe_ratio(returns, 8760)
    assert result.sortino == sortino_ratio(returns, 8760)
    assert result.sharpe is not None


def test_empty_inputs_give_undefined_ratios_not_errors() -> None:
    result = compute_metrics(inputs())

    assert result.start_equity == result.end_equity == D(100)
    assert result.total_return_pct == D(0)
    assert result.cagr_pct == D(0)
    assert result.max_drawdown_pct == D(0)
    assert result.max_drawdown_duration == timedelta(0)
    assert result.calmar is None
    assert result.sharpe is None
    assert result.sortino is None
    assert result.win_rate is None
    assert result.profit_factor is None
    assert result.average_win is None
    assert result.average_loss is None
    assert result.expectancy is None
    assert result.exposure_pct is None
    assert result.trades == 0
    assert result.fees == D(0)
    assert result.cost_per_decision is None
    assert result.buy_and_hold_pct == {}
    assert result.buy_and_hold_basket_pct is None


def test_a_zero_initial_balance_has_no_return() -> None:
    result = compute_metrics(inputs(initial="0"))

    assert result.total_return_pct is None
    assert result.cagr_pct is None
    assert result.calmar is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start": datetime(2025, 1, 1)}, "tz-aware"),  # noqa: DTZ001 - the naive case itself
        ({"end": T0}, "not after"),
        ({"exposed": [True]}, "exposure flags"),
        ({"interval": "7h"}, "unknown interval"),
    ],
)
def test_inconsistent_inputs_are_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "start": T0,
        "end": T0 + DAY,
        "initial_balance": D(100),
        "equity": [],
        "fills": [],
        "funding": D(0),
        "exposed": [],
        "llm_cost_usd": D(0),
        "decisions": 0,
        "candles": {},
        "interval": "1h",
    } | changes
    with pytest.raises(InvalidReportInputs, match=message):
        ReportInputs(**fields)  # type: ignore[arg-type]


def test_metrics_json_is_json_with_decimals_as_text() -> None:
    result = compute_metrics(
        inputs(
            points("110", "99", "105", "121"),
            exposed=[True, True, False, False],
            candles={"BTCUSDT": [bar(0, "100", "120")]},
        )
    )

    document = json.loads(json.dumps(result.to_json()))

    assert document == metrics_json(result)
    assert document["total_return_pct"] == "21"
    assert document["max_drawdown_duration_s"] == 3 * 86_400
    assert document["calmar"] == pytest.approx(2.1)
    assert document["win_rate"] is None
    assert document["buy_and_hold_pct"] == {"BTCUSDT": "20"}
    assert set(document) == set(BacktestMetrics.__dataclass_fields__) - {
        "max_drawdown_duration"
    } | {"max_drawdown_duration_s"}


# --- properties ---------------------------------------------------------------------------

positive = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2)
money = st.decimals(min_value=D("-500"), max_value=D("500"), places=2)


@given(st.lists(positive, min_size=1, max_size=60))
def test_drawdown_of_positive_equity_is_a_percentage(equities: list[Decimal]) -> None:
    curve = drawdown_curve(equities)
    worst = max_drawdown_pct(equities)

    assert worst is not None
    assert D(0) <= worst <= D(100)
    assert all(D(0) <= value <= D(100) for value in curve)
    assert max(curve) == worst


@given(st.lists(positive, min_size=1, max_size=60), st.integers(min_value=1, max_value=400))
def test_compute_metrics_holds_its_ranges(equities: list[Decimal], days: int) -> None:
    curve = points(*map(str, equities))
    result = compute_metrics(
        inputs(curve, end=T0 + (len(curve) + days) * DAY, exposed=[True] * len(curve))
    )

    assert D(0) <= result.max_drawdown_pct <= D(100)
    assert timedelta(0) <= result.max_drawdown_duration <= len(curve) * DAY
    assert result.exposure_pct == D(100)
    assert result.total_return_pct is not None
    if result.cagr_pct is not None:
        # Compounding never changes the sign of a return.
        assert (result.cagr_pct > 0) == (result.total_return_pct > 0)
        assert (result.cagr_pct < 0) == (result.total_return_pct < 0)
    if result.calmar is not None:
        assert math.isfinite(result.calmar)
    json.dumps(metrics_json(result))


@given(st.lists(positive, min_size=1, max_size=20))
def test_over_exactly_one_year_cagr_equals_the_return(equities: list[Decimal]) -> None:
    result = compute_metrics(inputs(points(*map(str, equities))))

    assert result.cagr_pct is not None
    assert result.total_return_pct is not None
    assert abs(result.cagr_pct - result.total_return_pct) <= D("1e-20")


fills_strategy = st.lists(
    st.tuples(
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        st.integers(min_value=-3, max_value=3).filter(bool),
        money,
        st.decimals(min_value=D(0), max_value=D(5), places=2),
    ),
    max_size=40,
)


@given(fills_strategy)
def test_trip_statistics_agree_with_the_trips(
    raw: list[tuple[str, int, Decimal, Decimal]],
) -> None:
    fills = [
        TradeFill(symbol, D(quantity), realized, fee, T0 + i * HOUR)
        for i, (symbol, quantity, realized, fee) in enumerate(raw)
    ]
    trips = [trip.net_pnl for trip in round_trips(fills)]
    result = compute_metrics(inputs(fills=fills))

    assert result.trades == len(trips)
    assert result.fees == sum((fee for *_, fee in raw), D(0))
    if not trips:
        assert result.win_rate is None
        assert result.expectancy is None
        return
    assert result.win_rate is not None
    assert D(0) <= result.win_rate <= D(1)
    assert result.expectancy is not None
    assert abs(result.expectancy * result.trades - sum(trips, D(0))) <= D("1e-20")
    if result.average_win is not None:
        assert result.average_win > 0
    if result.average_loss is not None:
        assert result.average_loss < 0
    if result.profit_factor is not None:
        assert result.profit_factor >= 0


@given(
    st.dictionaries(
        st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]),
        st.lists(st.tuples(positive, positive), min_size=1, max_size=10),
        max_size=4,
    )
)
def test_the_equal_weight_basket_is_the_mean_of_its_symbols(
    raw: dict[str, list[tuple[Decimal, Decimal]]],
) -> None:
    candles = {
        symbol: [bar(day, str(o), str(c)) for day, (o, c) in enumerate(bars)]
        for symbol, bars in raw.items()
    }
    result = compute_metrics(inputs(candles=candles))

    per_symbol = [buy_and_hold_pct(bars) for bars in candles.values()]
    assert all(value is not None for value in per_symbol)
    if not per_symbol:
        assert result.buy_and_hold_basket_pct is None
        return
    mean = sum((v for v in per_symbol if v is not None), D(0)) / len(per_symbol)
    assert result.buy_and_hold_basket_pct == mean
    assert list(result.buy_and_hold_pct.values()) == per_symbol
