"""Performance of one account: returns, drawdown, risk-adjusted ratios, trade and cost figures.

Pure arithmetic over values the repository has already loaded (no SQL, no HTTP). Money and
percentages stay :class:`~decimal.Decimal`; only the Sharpe and Sortino ratios are floats,
because they need a square root and are statistics rather than amounts anyone books.

Units:

- ``return_pct`` and ``max_drawdown_pct`` are percentages (``20`` means 20 %).
- ``win_rate`` is a share in ``[0, 1]`` (``0.5`` means half the trades won).
- A trade is a round trip (:func:`round_trips`): a position from flat to flat, however many
  fills it took, judged by its net PnL after the fees of those fills. Funding is reported as
  its own total, not charged to trades.
- ``sharpe`` and ``sortino`` are annualised (see :func:`compute_metrics`).

Percentages and ratios are not rounded here: the presentation layer decides the precision.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Final

_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
# Crypto perpetuals trade around the clock, so a year is 365 full days (not 252 sessions).
YEAR: Final = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Account equity (in the quote asset, USDT) at one moment (tz-aware UTC)."""

    at: datetime
    equity: Decimal


@dataclass(frozen=True, slots=True)
class Metrics:
    """The performance of an account over a range.

    Attributes:
        start_equity: Equity of the first curve point; None for an empty curve.
        end_equity: Equity of the last curve point; None for an empty curve.
        return_pct: ``(end - start) / start x 100``; None for an empty curve or when the
            start equity is not positive.
        max_drawdown_pct: Largest peak-to-trough fall of the curve, as a positive
            percentage of the peak (0 when the curve never falls); None for an empty curve.
            It exceeds 100 only if the equity itself went negative.
        sharpe: Annualised Sharpe ratio of the per-bucket returns (risk-free rate 0); None
            with fewer than 2 returns or when the returns do not vary.
        sortino: Annualised Sortino ratio (target return 0); None with fewer than 2 returns
            or when no return is negative.
        win_rate: Share of trades (round trips) with a positive net PnL, in ``[0, 1]``; None
            without trades.
        profit_factor: Gross net profit / gross net loss of the trades; None without a loss.
        realized_pnl: Sum of the fills' realized PnL.
        unrealized_pnl: Unrealized PnL of the open positions (as given).
        fees: Sum of the fills' fees (positive when paid).
        funding: Sum of the funding payments (negative when the account paid).
        llm_cost_usd: What the decision model cost, in USD.
        decisions: How many decision cycles ran.
        cost_per_decision: ``llm_cost_usd / decisions``; None without decisions.
        trades: Round trips closed in the range.
    """

    start_equity: Decimal | None
    end_equity: Decimal | None
    return_pct: Decimal | None
    max_drawdown_pct: Decimal | None
    sharpe: float | None
    sortino: float | None
    win_rate: Decimal | None
    profit_factor: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    llm_cost_usd: Decimal
    decisions: int
    cost_per_decision: Decimal | None
    trades: int


def compute_metrics(
    curve: Sequence[EquityPoint],
    *,
    bucket: timedelta,
    realized: Sequence[Decimal],
    trips: Sequence[Decimal],
    fees: Decimal,
    funding: Decimal,
    unrealized: Decimal,
    llm_cost: Decimal,
    decisions: int,
) -> Metrics:
    """Compute the performance metrics of an equity curve and the account's activity.

    The Sharpe and Sortino ratios come from the simple returns between consecutive curve
    points (one per ``bucket``), annualised by ``sqrt(periods per year)`` where a period is
    the bucket width: ``sqrt(365 days / bucket)`` (e.g. ``sqrt(8760)`` for hourly buckets).
    They are floats: the mean and deviation are exact (``statistics`` works on fractions),
    only the final ratio is rounded to a float.

    Args:
        curve: Equity points, oldest first, one per bucket.
        bucket: Width of a curve bucket; sets the annualisation factor.
        realized: Realized PnL of the fills (before fees).
        trips: Net PnL of every round trip closed in the range (see :func:`round_trips`).
        fees: Total fees paid.
        funding: Total funding (negative when paid).
        unrealized: Current unrealized PnL.
        llm_cost: Total cost of the decision model, in USD.
        decisions: Number of decision cycles.

    Returns:
        The metrics; every undefined ratio is None rather than an error.

    Raises:
        ValueError: ``bucket`` is not positive.
    """
    if bucket <= timedelta(0):
        raise ValueError(f"bucket must be positive, got {bucket}")
    equities = [point.equity for point in curve]
    returns = _returns(equities)
    periods_per_year = YEAR / bucket
    return Metrics(
        start_equity=equities[0] if equities else None,
        end_equity=equities[-1] if equities else None,
        return_pct=_return_pct(equities),
        max_drawdown_pct=max_drawdown_pct(equities),
        sharpe=sharpe_ratio(returns, periods_per_year),
        sortino=sortino_ratio(returns, periods_per_year),
        win_rate=_win_rate(trips),
        profit_factor=_profit_factor(trips),
        realized_pnl=sum(realized, _ZERO),
        unrealized_pnl=unrealized,
        fees=fees,
        funding=funding,
        llm_cost_usd=llm_cost,
        decisions=decisions,
        cost_per_decision=llm_cost / decisions if decisions > 0 else None,
        trades=len(trips),
    )


@dataclass(frozen=True, slots=True)
class TradeFill:
    """One fill, as round trips see it.

    Attributes:
        symbol: The position's symbol (one-way mode: one position per symbol).
        quantity: Signed base quantity: positive for a buy, negative for a sell.
        realized_pnl: Realized PnL of the fill, before fees.
        fee: Fee paid (positive when paid).
        at: When it filled (tz-aware UTC).
    """

    symbol: str
    quantity: Decimal
    realized_pnl: Decimal
    fee: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position from open to flat: its symbol, when it went flat, its PnL net of fees."""

    symbol: str
    closed_at: datetime
    net_pnl: Decimal


def round_trips(fills: Sequence[TradeFill]) -> list[RoundTrip]:
    """The round trips closed by ``fills`` (oldest first), in the order they went flat.

    A round trip collects the realized PnL minus the fees of every fill from the one that
    opens a position to the one that leaves it flat. A fill that reverses the position
    closes one trip and opens the next: its realized PnL belongs to the closing part, its
    fee is split by quantity. A fill that realizes PnL from flat closes a position opened
    before the first fill given; it is a round trip of its own. Over fills that end flat,
    the trips' net PnL adds up exactly to the fills' realized PnL minus their fees.
    """
    position: dict[str, Decimal] = {}
    running: dict[str, Decimal] = {}
    closed: list[RoundTrip] = []
    for fill in fills:
        before = position.get(fill.symbol, _ZERO)
        after = before + fill.quantity
        net = running.get(fill.symbol, _ZERO) + fill.realized_pnl
        if before == 0 and fill.realized_pnl != 0:
            closed.append(RoundTrip(fill.symbol, fill.at, net - fill.fee))
            running[fill.symbol] = _ZERO
            continue
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            # Reduced to flat or reversed: the part up to flat ends this trip.
            closing_fee = fill.fee if after == 0 else _share(fill.fee, before, fill.quantity)
            closed.append(RoundTrip(fill.symbol, fill.at, net - closing_fee))
            running[fill.symbol] = -(fill.fee - closing_fee)
        else:
            running[fill.symbol] = net - fill.fee
        position[fill.symbol] = after
    return closed


def _share(fee: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    # Rounded to the fee's own places (at least 8) so that the trips still add up exactly:
    # an unrounded third of a fee would round again in every sum it enters.
    exponent = fee.as_tuple().exponent
    places = min(exponent if isinstance(exponent, int) else 0, -8)
    return (fee * abs(part) / abs(whole)).quantize(Decimal(1).scaleb(places))


def max_drawdown_pct(equities: Sequence[Decimal]) -> Decimal | None:
    """Largest fall from a running peak, as a positive percentage of that peak.

    Peaks that are not positive are skipped: a fall from zero or below has no percentage.

    Returns:
        The drawdown (0 for a curve that never falls); None for an empty curve.
    """
    if not equities:
        return None
    peak = equities[0]
    worst = _ZERO
    for equity in equities:
        peak = max(peak, equity)
        if peak > 0:
            worst = max(worst, (peak - equity) / peak * _HUNDRED)
    return worst


def sharpe_ratio(returns: Sequence[Decimal], periods_per_year: float) -> float | None:
    """Annualised Sharpe ratio: ``mean / sample stdev x sqrt(periods_per_year)``.

    Returns:
        The ratio; None with fewer than 2 returns or a zero deviation.
    """
    if len(returns) < 2:
        return None
    deviation = statistics.stdev(returns)
    if deviation == 0:
        return None
    return float(statistics.mean(returns) / deviation) * math.sqrt(periods_per_year)


def sortino_ratio(returns: Sequence[Decimal], periods_per_year: float) -> float | None:
    """Annualised Sortino ratio: ``mean / downside deviation x sqrt(periods_per_year)``.

    The downside deviation is ``sqrt(sum(min(r, 0)^2) / n)`` over all ``n`` returns (target
    0): positive returns count as zero downside rather than being dropped.

    Returns:
        The ratio; None with fewer than 2 returns or no negative return.
    """
    if len(returns) < 2:
        return None
    downside = sum((min(r, _ZERO) ** 2 for r in returns), _ZERO) / len(returns)
    if downside == 0:
        return None
    return float(statistics.mean(returns) / downside.sqrt()) * math.sqrt(periods_per_year)


def _returns(equities: Sequence[Decimal]) -> list[Decimal]:
    # A step from a non-positive equity has no defined return, so it is skipped.
    return [now / before - 1 for before, now in pairwise(equities) if before > 0]


def _return_pct(equities: Sequence[Decimal]) -> Decimal | None:
    if not equities or equities[0] <= 0:
        return None
    return (equities[-1] - equities[0]) / equities[0] * _HUNDRED


def _win_rate(trades: Sequence[Decimal]) -> Decimal | None:
    if not trades:
        return None
    return Decimal(sum(1 for pnl in trades if pnl > 0)) / len(trades)


def _profit_factor(trades: Sequence[Decimal]) -> Decimal | None:
    gross_loss = -sum((pnl for pnl in trades if pnl < 0), _ZERO)
    if gross_loss == 0:
        return None
    return sum((pnl for pnl in trades if pnl > 0), _ZERO) / gross_loss
