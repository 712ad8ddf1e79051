"""The metrics of a backtest: returns, risk, round trips, exposure, costs and buy-and-hold.

Pure arithmetic over what a finished run hands over (no SQL, no HTTP). The curve, trade and
ratio arithmetic is :mod:`app.trading.performance`'s, so a backtest and a live account are
judged by the same rules; this module adds what only a bounded window can say (CAGR, Calmar,
the longest time under water, exposure, buy-and-hold of the same candles).

Units follow :mod:`app.trading.performance`: percentages are percent (``20`` means 20 %),
``win_rate`` is a share in ``[0, 1]``, money is :class:`~decimal.Decimal` in the quote asset,
and the statistics that need a root or a fractional power's ratio (Sharpe, Sortino, Calmar)
are floats. A metric that is undefined for the inputs (no trades, no loss, a start equity of
zero...) is None, never an error.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, Overflow, localcontext
from typing import Final

from app.core.decimals import plain_decimal
from app.core.types import KLINE_INTERVALS_MS, interval_delta
from app.trading.performance import (
    YEAR,
    EquityPoint,
    TradeFill,
    max_drawdown_pct,
    round_trips,
)
from app.trading.performance import (
    compute_metrics as performance_metrics,
)

_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
# A CAGR above 10^99 % only says the window was too short to annualise; it has no use and
# its plain text would run to thousands of digits, so it is reported as undefined.
_CAGR_MAX_EXPONENT: Final = 99


class InvalidReportInputs(ValueError):
    """The inputs of a backtest's metrics contradict each other (or name no known interval)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle of the window (prices in the quote asset, open time tz-aware UTC)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """Everything a finished backtest hands to its metrics and its report.

    Attributes:
        start: Window start (tz-aware UTC), inclusive.
        end: Window end, exclusive; after ``start``.
        initial_balance: The account's equity at ``start``, before any tick.
        equity: One point per tick, oldest first.
        fills: The window's fills, oldest first.
        funding: Net funding (negative when the account paid).
        exposed: Per equity point: whether any position was open at that point.
        llm_cost_usd: What the decision model cost, in USD.
        decisions: Decision cycles run.
        candles: Per symbol, the window's closed candles (buy-and-hold, charts).
        interval: Bar length of the equity points, a kline interval such as ``"1h"``.

    Raises:
        InvalidReportInputs: ``end`` is not after ``start``, ``start`` is naive,
            ``exposed`` and ``equity`` differ in length, or ``interval`` is unknown.
    """

    start: datetime
    end: datetime
    initial_balance: Decimal
    equity: Sequence[EquityPoint]
    fills: Sequence[TradeFill]
    funding: Decimal
    exposed: Sequence[bool]
    llm_cost_usd: Decimal
    decisions: int
    candles: Mapping[str, Sequence[Bar]]
    interval: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidReportInputs("the window's start and end must be tz-aware")
        if self.end <= self.start:
            raise InvalidReportInputs(f"window end {self.end} is not after start {self.start}")
        if len(self.exposed) != len(self.equity):
            raise InvalidReportInputs(
                f"{len(self.exposed)} exposure flags for {len(self.equity)} equity points"
            )
        if self.interval not in KLINE_INTERVALS_MS:
            raise InvalidReportInputs(f"unknown interval {self.interval!r}")


@dataclass(frozen=True, slots=True)
class BacktestMetrics:
    """How a backtest did over its window.

    Attributes:
        start_equity: The initial balance (the curve starts there).
        end_equity: Equity of the last tick (the initial balance without ticks).
        total_return_pct: ``(end - start) / start x 100``; None if the start is not positive.
        cagr_pct: The return compounded to a 365-day year over the window's length; None if
            the start is not positive, the end is negative, or the figure is beyond 10^99 %.
        sharpe: Annualised Sharpe ratio of the per-tick returns (see
            :func:`app.trading.performance.sharpe_ratio`).
        sortino: Annualised Sortino ratio of the per-tick returns.
        max_drawdown_pct: Largest peak-to-trough fall, percent of the peak.
        max_drawdown_duration: Longest time the curve spent below a previous peak: from the
            peak to the first point back at or above it, or to the last point if it never
            came back.
        calmar: ``cagr_pct / max_drawdown_pct``; None without a drawdown or a CAGR.
        win_rate: Share of round trips with a net PnL (after fees) above 0; None without trips.
        profit_factor: Net profit of the winning trips over the net loss of the losing ones;
            None without a losing trip.
        average_win: Mean net PnL of the winning trips; None without one.
        average_loss: Mean net PnL of the losing trips (negative); None without one.
        expectancy: Mean net PnL per round trip; None without trips.
        exposure_pct: Share of ticks with a position open, percent; None without ticks.
        trades: Round trips closed in the window.
        fees: Fees paid by the window's fills.
        funding: Net funding (negative when paid).
        llm_cost_usd: What the decision model cost, in USD.
        decisions: Decision cycles run.
        cost_per_decision: ``llm_cost_usd / decisions``; None without decisions.
        buy_and_hold_pct: Per symbol, first open to last close of the window's candles,
            percent; None for a symbol without candles or with an open that is not positive.
        buy_and_hold_basket_pct: Equal-weight basket of the symbols that have a figure (the
            mean of theirs: each holds the same stake from the start, never rebalanced);
            None if none has one.
    """

    start_equity: Decimal
    end_equity: Decimal
    total_return_pct: Decimal | None
    cagr_pct: Decimal | None
    sharpe: float | None
    sortino: float | None
    max_drawdown_pct: Decimal
    max_drawdown_duration: timedelta
    calmar: float | None
    win_rate: Decimal | None
    profit_factor: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    expectancy: Decimal | None
    exposure_pct: Decimal | None
    trades: int
    fees: Decimal
    funding: Decimal
    llm_cost_usd: Decimal
    decisions: int
    cost_per_decision: Decimal | None
    buy_and_hold_pct: Mapping[str, Decimal | None]
    buy_and_hold_basket_pct: Decimal | None

    def to_json(self) -> dict[str, object]:
        """JSON-safe values of the metrics (see :func:`metrics_json`)."""
        return metrics_json(self)


def equity_curve(inputs: ReportInputs) -> list[EquityPoint]:
    """The curve the metrics judge: the initial balance at ``start``, then every tick.

    The initial point is left out when the first tick is already at ``start``.
    """
    points = list(inputs.equity)
    if not points or points[0].at > inputs.start:
        points.insert(0, EquityPoint(at=inputs.start, equity=inputs.initial_balance))
    return points


def compute_metrics(inputs: ReportInputs) -> BacktestMetrics:
    """Compute the metrics of a finished backtest.

    Sharpe and Sortino are annualised by the number of ``inputs.interval`` bars in a
    365-day year, as :func:`app.trading.performance.compute_metrics` does for a bucket.
    """
    curve = equity_curve(inputs)
    trips = [trip.net_pnl for trip in round_trips(inputs.fills)]
    fees = sum((fill.fee for fill in inputs.fills), _ZERO)
    base = performance_metrics(
        curve,
        bucket=interval_delta(inputs.interval),
        realized=[fill.realized_pnl for fill in inputs.fills],
        trips=trips,
        fees=fees,
        funding=inputs.funding,
        unrealized=_ZERO,
        llm_cost=inputs.llm_cost_usd,
        decisions=inputs.decisions,
    )
    equities = [point.equity for point in curve]
    drawdown = max_drawdown_pct(equities) or _ZERO
    cagr = cagr_pct(equities[0], equities[-1], inputs.end - inputs.start)
    wins = [pnl for pnl in trips if pnl > 0]
    losses = [pnl for pnl in trips if pnl < 0]
    per_symbol = {symbol: buy_and_hold_pct(bars) for symbol, bars in inputs.candles.items()}
    return BacktestMetrics(
        start_equity=equities[0],
        end_equity=equities[-1],
        total_return_pct=base.return_pct,
        cagr_pct=cagr,
        sharpe=base.sharpe,
        sortino=base.sortino,
        max_drawdown_pct=drawdown,
        max_drawdown_duration=max_drawdown_duration(curve),
        calmar=float(cagr / drawdown) if cagr is not None and drawdown > 0 else None,
        win_rate=base.win_rate,
        profit_factor=base.profit_factor,
        average_win=_mean(wins),
        average_loss=_mean(losses),
        expectancy=_mean(trips),
        exposure_pct=(
            Decimal(sum(inputs.exposed)) / len(inputs.exposed) * _HUNDRED
            if inputs.exposed
            else None
        ),
        trades=base.trades,
        fees=fees,
        funding=inputs.funding,
        llm_cost_usd=inputs.llm_cost_usd,
        decisions=inputs.decisions,
        cost_per_decision=base.cost_per_decision,
        buy_and_hold_pct=per_symbol,
        buy_and_hold_basket_pct=_mean([v for v in per_symbol.values() if v is not None]),
    )


def cagr_pct(start: Decimal, end: Decimal, length: timedelta) -> Decimal | None:
    """Compound annual growth from ``start`` to ``end`` over ``length``, percent.

    ``((end / start) ^ (365 days / length) - 1) x 100``: a window shorter than a year is
    compounded up, a longer one down.

    Returns:
        The rate (``-100`` when the end is zero); None if ``start`` is not positive, ``end``
        is negative, ``length`` is not positive, or the rate exceeds 10^99 %.
    """
    if start <= 0 or end < 0 or length <= timedelta(0):
        return None
    if end == 0:
        return -_HUNDRED
    years = Decimal(length.total_seconds()) / Decimal(YEAR.total_seconds())
    with localcontext() as context:
        context.Emax = _CAGR_MAX_EXPONENT
        try:
            growth = (end / start) ** (1 / years)
            return (growth - 1) * _HUNDRED
        except (Overflow, InvalidOperation):
            return None


def max_drawdown_duration(curve: Sequence[EquityPoint]) -> timedelta:
    """Longest time the curve stayed below a previous peak (zero if it never fell).

    An episode runs from the peak to the first point at or above it again; one still open at
    the last point runs to that point.
    """
    longest = timedelta(0)
    peak: Decimal | None = None
    peak_at: datetime | None = None
    under = False
    for point in curve:
        if peak is None or peak_at is None or point.equity >= peak:
            if under and peak_at is not None:
                longest = max(longest, point.at - peak_at)
            peak, peak_at, under = point.equity, point.at, False
        else:
            under = True
    if under and peak_at is not None:
        longest = max(longest, curve[-1].at - peak_at)
    return longest


def drawdown_curve(equities: Sequence[Decimal]) -> list[Decimal]:
    """Per point, its fall below the running peak, percent of that peak.

    A point under a peak that is not positive has no percentage and reads 0, as in
    :func:`app.trading.performance.max_drawdown_pct` (whose result is this curve's maximum).
    """
    result: list[Decimal] = []
    peak: Decimal | None = None
    for equity in equities:
        peak = equity if peak is None else max(peak, equity)
        result.append((peak - equity) / peak * _HUNDRED if peak > 0 else _ZERO)
    return result


def buy_and_hold_pct(bars: Sequence[Bar]) -> Decimal | None:
    """Return of buying at the first candle's open and selling at the last one's close, percent.

    The first and last candles are found by open time, whatever order ``bars`` come in.

    Returns:
        The return; None without candles or when the first open is not positive.
    """
    if not bars:
        return None
    first = min(bars, key=lambda bar: bar.open_time)
    last = max(bars, key=lambda bar: bar.open_time)
    if first.open <= 0:
        return None
    return (last.close - first.open) / first.open * _HUNDRED


def metrics_json(metrics: BacktestMetrics) -> dict[str, object]:
    """JSON-safe values of ``metrics``, field for field.

    Decimals become their plain text (as every API answer writes them), floats stay numbers
    (a non-finite one becomes null: JSON has no NaN), the drawdown duration becomes seconds
    and ``buy_and_hold_pct`` an object keyed by symbol.
    """
    return {
        "start_equity": plain_decimal(metrics.start_equity),
        "end_equity": plain_decimal(metrics.end_equity),
        "total_return_pct": _text(metrics.total_return_pct),
        "cagr_pct": _text(metrics.cagr_pct),
        "sharpe": _number(metrics.sharpe),
        "sortino": _number(metrics.sortino),
        "max_drawdown_pct": plain_decimal(metrics.max_drawdown_pct),
        "max_drawdown_duration_s": metrics.max_drawdown_duration.total_seconds(),
        "calmar": _number(metrics.calmar),
        "win_rate": _text(metrics.win_rate),
        "profit_factor": _text(metrics.profit_factor),
        "average_win": _text(metrics.average_win),
        "average_loss": _text(metrics.average_loss),
        "expectancy": _text(metrics.expectancy),
        "exposure_pct": _text(metrics.exposure_pct),
        "trades": metrics.trades,
        "fees": plain_decimal(metrics.fees),
        "funding": plain_decimal(metrics.funding),
        "llm_cost_usd": plain_decimal(metrics.llm_cost_usd),
        "decisions": metrics.decisions,
        "cost_per_decision": _text(metrics.cost_per_decision),
        "buy_and_hold_pct": {
            symbol: _text(value) for symbol, value in sorted(metrics.buy_and_hold_pct.items())
        },
        "buy_and_hold_basket_pct": _text(metrics.buy_and_hold_basket_pct),
    }


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, _ZERO) / len(values) if values else None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain_decimal(value)


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
