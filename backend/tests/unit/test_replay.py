"""The replay source: bundled real candles, time from the clock, aggregation."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.market_data.replay import SAMPLE_DIR, ReplayDataError, ReplayMarketData
from tests.data import real_klines
from tests.fakes.clock import ManualClock

START = datetime(2026, 4, 1, tzinfo=UTC)


async def test_only_candles_opened_by_now_are_served_and_only_past_ones_closed() -> None:
    clock = ManualClock(START + timedelta(minutes=30))
    replay = ReplayMarketData(clock)

    candles = await replay.candles("BTCUSDT", "1h", start=START - timedelta(hours=3))

    assert [c.open_time for c in candles] == [START - timedelta(hours=h) for h in (3, 2, 1, 0)]
    assert [c.closed for c in candles] == [True, True, True, False]
    assert await replay.symbols() == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


async def test_the_sample_is_the_real_data() -> None:
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    replay = ReplayMarketData(clock)

    sample = await replay.candles("ETHUSDT", "1h", start=START, end=START + timedelta(hours=9))
    real = [
        k
        for k in real_klines("ETHUSDT", "1h")
        if START <= k.open_time <= START + timedelta(hours=9)
    ]

    assert [(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in sample] == [
        (c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in real
    ]


async def test_4h_is_aggregated_from_1h_and_matches_the_exchanges_4h_candles() -> None:
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    replay = ReplayMarketData(clock)

    aggregated = await replay.candles("SOLUSDT", "4h", start=START, end=START + timedelta(days=5))
    exchange = [
        k for k in real_klines("SOLUSDT", "4h") if START <= k.open_time <= START + timedelta(days=5)
    ]

    assert len(aggregated) == 31
    assert [(c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in aggregated] == [
        (c.open_time, c.open, c.high, c.low, c.close, c.volume) for c in exchange
    ]


async def test_anchoring_shifts_the_recording_to_end_now() -> None:
    now = datetime(2030, 1, 1, 10, 15, tzinfo=UTC)
    replay = ReplayMarketData(ManualClock(now), anchor=now)

    recent = await replay.candles("BTCUSDT", "1h", start=now - timedelta(hours=3))
    premium = await replay.premium_index("BTCUSDT")

    assert recent[-1].closed
    assert recent[-1].open_time == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert premium.mark_price == recent[-1].close


async def test_bad_recordings_are_refused_with_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "BTCUSDT-1h.csv").write_text(
        "open_time_ms,open,high,low,close,volume\n1,2,3,1,2,5\n3600000,x,3,1,2,5\n"
    )
    replay = ReplayMarketData(ManualClock(START), tmp_path)

    with pytest.raises(ReplayDataError, match=r"BTCUSDT-1h\.csv:3: malformed"):
        await replay.candles("BTCUSDT", "1h", start=datetime(1970, 1, 1, tzinfo=UTC))
    with pytest.raises(ReplayDataError, match="no recording of BTCUSDT at 15m"):
        await replay.candles("BTCUSDT", "15m", start=START)
    assert SAMPLE_DIR.is_dir()
