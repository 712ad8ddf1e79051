"""The data-quality gate the agent asks before each decision. Pure."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from app.core.types import interval_delta


@dataclass(frozen=True, slots=True)
class TimeframeState:
    """What the store holds for one (symbol, interval)."""

    last_open_time: datetime | None
    last_close: Decimal | None


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """Whether the data may feed a decision; if not, every reason, for the journal."""

    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.reasons


def assess(
    symbol: str,
    now: datetime,
    timeframes: Mapping[str, TimeframeState],
    mark_price: Decimal | None,
    *,
    max_mark_deviation: Decimal,
) -> QualityVerdict:
    """Check one symbol's candles before a decision.

    Args:
        symbol: The symbol being checked.
        now: Current time (tz-aware).
        timeframes: Per interval, the newest stored closed candle.
        mark_price: Current mark price, when known.
        max_mark_deviation: Largest allowed |close - mark| / mark, as a fraction.

    Returns:
        A verdict listing stale data (no closed candle within two intervals), missing
        timeframes, and a last close too far from the mark price.
    """
    reasons: list[str] = []
    for interval, state in timeframes.items():
        if state.last_open_time is None or state.last_close is None:
            reasons.append(f"{symbol} {interval}: no closed candles (missing timeframe)")
            continue
        length = interval_delta(interval)
        closed_at = state.last_open_time + length
        if now - closed_at > 2 * length:
            reasons.append(
                f"{symbol} {interval}: stale, last candle closed {closed_at.isoformat()} "
                f"({_ago(now - closed_at)} ago, more than two intervals)"
            )
        if mark_price is not None and mark_price > 0:
            deviation = abs(state.last_close - mark_price) / mark_price
            if deviation > max_mark_deviation:
                reasons.append(
                    f"{symbol} {interval}: last close {state.last_close} is "
                    f"{deviation:.2%} from the mark price {mark_price} "
                    f"(limit {max_mark_deviation:.2%})"
                )
    return QualityVerdict(tuple(reasons))


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
