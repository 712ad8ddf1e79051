"""The data-quality gate."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.market_data.quality import TimeframeState, assess

NOW = datetime(2026, 4, 1, 12, 5, tzinfo=UTC)
FRESH = TimeframeState(NOW.replace(minute=0) - timedelta(hours=1), Decimal(100))


def test_fresh_data_passes() -> None:
    verdict = assess(
        "BTCUSDT", NOW, {"1h": FRESH}, Decimal("100.5"), max_mark_deviation=Decimal("0.05")
    )

    assert verdict.ok
    assert verdict.reasons == ()


def test_stale_data_fires_after_two_intervals_without_a_closed_candle() -> None:
    stale = TimeframeState(NOW.replace(minute=0) - timedelta(hours=4), Decimal(100))

    verdict = assess("BTCUSDT", NOW, {"1h": stale}, None, max_mark_deviation=Decimal("0.05"))

    assert not verdict.ok
    assert "stale" in verdict.reasons[0]
    assert "BTCUSDT 1h" in verdict.reasons[0]


def test_a_missing_timeframe_fires() -> None:
    verdict = assess(
        "ETHUSDT",
        NOW,
        {"1h": FRESH, "4h": TimeframeState(None, None)},
        None,
        max_mark_deviation=Decimal("0.05"),
    )

    assert verdict.reasons == ("ETHUSDT 4h: no closed candles (missing timeframe)",)


def test_an_outlier_close_against_the_mark_fires() -> None:
    verdict = assess(
        "SOLUSDT", NOW, {"1h": FRESH}, Decimal(120), max_mark_deviation=Decimal("0.05")
    )

    assert len(verdict.reasons) == 1
    assert "16.67% from the mark price 120" in verdict.reasons[0]
