"""Shared feature frames: a hit is the frame computed from the same candles, exactly."""

from dataclasses import replace

import numpy as np

from app.indicators.features import features_of_arrays
from app.indicators.schemas import IndicatorConfig
from app.market_data.frames import FrameCache
from app.market_data.prefill_worker import WindowJob, window_frames
from app.market_data.series import CandleSeries, epoch_ms
from tests.data import real_klines


def series_of(skip: int, count: int = 250) -> CandleSeries:
    series = CandleSeries(250)
    series.add(real_klines("BTCUSDT", "1h", count, skip=skip))
    return series


def test_a_frame_comes_back_equal_to_the_one_computed() -> None:
    config = IndicatorConfig()
    cache = FrameCache()
    for skip in range(20_000, 20_030):
        series = series_of(skip)
        last = series.last_open_time
        assert last is not None
        key = ("BTCUSDT", "1h", last, len(series), series.digest())
        frame = features_of_arrays("BTCUSDT", "1h", last, series.arrays(), config)
        assert cache.get(key) is None
        cache.put(key, frame)
        hit = cache.get(key)
        assert hit == frame
        assert hit is not None
        assert hit.model_dump(mode="json") == frame.model_dump(mode="json")
    assert len(cache) == 30


def test_other_candles_never_hit() -> None:
    config = IndicatorConfig()
    cache = FrameCache()
    series = series_of(20_000)
    last = series.last_open_time
    assert last is not None
    cache.put(
        ("BTCUSDT", "1h", last, len(series), series.digest()),
        features_of_arrays("BTCUSDT", "1h", last, series.arrays(), config),
    )
    # The same newest candle and count, one older candle different: another digest.
    klines = real_klines("BTCUSDT", "1h", 250, skip=20_000)
    altered = CandleSeries(250)
    altered.add([replace(klines[0], close=klines[0].close * 2), *klines[1:]])
    assert altered.last_open_time == last
    assert len(altered) == len(series)
    assert altered.digest() != series.digest()
    assert cache.get(("BTCUSDT", "1h", last, len(altered), altered.digest())) is None


def test_the_workers_frames_are_the_market_views_frames() -> None:
    """Every window the frame worker computes comes back equal to the one the view computes."""
    config = IndicatorConfig()
    klines = real_klines("BTCUSDT", "1h", 400, skip=20_000)
    columns = np.array(
        [
            (float(k.open), float(k.high), float(k.low), float(k.close), float(k.volume))
            for k in klines
        ]
    ).T
    job = WindowJob(
        "BTCUSDT",
        "1h",
        np.array([epoch_ms(k.open_time) for k in klines], dtype=np.int64),
        np.ascontiguousarray(columns),
        first=0,
        held_bars=250,
        indicators=config.model_dump(),
    )
    cache = FrameCache()
    # A batch with no window (too few candles in it) sets nothing, not even the names.
    cache.merge(window_frames(replace(job, opens=job.opens[:3], columns=job.columns[:, :3])))
    cache.merge(window_frames(job))

    series = CandleSeries(250)
    compared = 0
    for kline in klines:
        series.add([kline])
        last = series.last_open_time
        assert last is not None
        got = cache.get(("BTCUSDT", "1h", last, len(series), series.digest()))
        if len(series) < config.recent_bars:
            assert got is None  # too few candles for a full recent series: not kept
            continue
        assert got == features_of_arrays("BTCUSDT", "1h", last, series.arrays(), config)
        compared += 1
    assert compared == 400 - config.recent_bars + 1
