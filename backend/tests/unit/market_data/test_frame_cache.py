"""Shared feature frames: a hit is the frame computed from the same candles, exactly."""

from dataclasses import replace

from app.indicators.features import features_of_arrays
from app.indicators.schemas import IndicatorConfig
from app.market_data.frames import FrameCache
from app.market_data.series import CandleSeries
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
