"""Indicators on real candles: equal to direct TA-Lib calls, and no look-ahead."""

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from app.indicators.compute import CandleArrays, compute, compute_tail
from app.indicators.features import asset_features, timeframe_features
from app.indicators.schemas import IndicatorConfig
from tests.data import real_klines

CONFIG = IndicatorConfig()
BTC = real_klines("BTCUSDT", "1h", count=1000, skip=40_000)


def test_every_indicator_equals_a_direct_talib_call() -> None:
    arrays = CandleArrays.from_candles(BTC)
    o, h, lo, c, v = (
        np.array([float(getattr(k, f)) for k in BTC])
        for f in ("open", "high", "low", "close", "volume")
    )

    out = compute(arrays, CONFIG)

    expected = {
        "ema_20": talib.EMA(c, 20),
        "ema_50": talib.EMA(c, 50),
        "ema_200": talib.EMA(c, 200),
        "rsi": talib.RSI(c, 14),
        "macd": talib.MACD(c, 12, 26, 9)[0],
        "macd_signal": talib.MACD(c, 12, 26, 9)[1],
        "macd_hist": talib.MACD(c, 12, 26, 9)[2],
        "atr": talib.ATR(h, lo, c, 14),
        "bb_upper": talib.BBANDS(c, 20, 2.0, 2.0)[0],
        "bb_middle": talib.BBANDS(c, 20, 2.0, 2.0)[1],
        "bb_lower": talib.BBANDS(c, 20, 2.0, 2.0)[2],
        "adx": talib.ADX(h, lo, c, 14),
        "obv": talib.OBV(c, v),
        "volume_ratio": v / talib.SMA(v, 20),
        "change_1": np.concatenate([[np.nan], c[1:] / c[:-1] - 1]),
        "change_4": np.concatenate([[np.nan] * 4, c[4:] / c[:-4] - 1]),
        "change_24": np.concatenate([[np.nan] * 24, c[24:] / c[:-24] - 1]),
    }
    assert set(out) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(out[name], values, rtol=1e-12, equal_nan=True, err_msg=name)
    assert not np.isnan(out["ema_200"][CONFIG.warmup_bars :]).any()
    assert o.shape == c.shape


@pytest.mark.parametrize("cut", [250, 401, 777, 999])
def test_no_look_ahead_a_value_at_t_uses_candles_up_to_t_only(cut: int) -> None:
    full = compute(CandleArrays.from_candles(BTC), CONFIG)
    truncated = compute(CandleArrays.from_candles(BTC[:cut]), CONFIG)

    for name, values in truncated.items():
        np.testing.assert_allclose(
            values, full[name][:cut], rtol=1e-9, equal_nan=True, err_msg=name
        )


def test_features_hold_latest_values_and_a_short_series() -> None:
    frame = timeframe_features("BTCUSDT", "1h", BTC, CONFIG)

    assert frame.open_time == BTC[-1].open_time
    assert frame.close == float(BTC[-1].close)
    assert frame.values["rsi"] is not None
    assert 0 <= frame.values["rsi"] <= 100
    assert len(frame.recent["close"]) == CONFIG.recent_bars
    assert frame.recent["close"][-1] == pytest.approx(float(BTC[-1].close))


def test_warming_up_values_are_none_not_nan() -> None:
    frame = timeframe_features("BTCUSDT", "1h", BTC[:30], CONFIG)

    assert frame.values["ema_200"] is None
    assert frame.values["ema_20"] is not None


def test_asset_features_span_timeframes() -> None:
    four_hour = real_klines("BTCUSDT", "4h", count=300)

    features = asset_features("BTC", "BTCUSDT", {"1h": BTC, "4h": four_hour}, CONFIG)

    assert set(features.timeframes) == {"1h", "4h"}
    assert features.model_dump_json()  # serialisable for the prompt and the snapshot


def test_the_configuration_fingerprint_changes_with_the_periods() -> None:
    assert IndicatorConfig().fingerprint == IndicatorConfig().fingerprint
    assert IndicatorConfig(rsi_period=7).fingerprint != IndicatorConfig().fingerprint
    assert IndicatorConfig().warmup_bars == 200


@settings(max_examples=60, deadline=None)
@given(
    closes=st.lists(
        st.sampled_from([0.0, 1.0, 2.5, 100.0, 101.25, 99_999.5]), min_size=1, max_size=80
    ),
    volumes=st.lists(st.sampled_from([0.0, 1.0, 3.5, 1000.0]), min_size=80, max_size=80),
    bars=st.integers(min_value=0, max_value=100),
)
def test_a_tail_is_the_full_series_cut_bit_for_bit(
    closes: list[float], volumes: list[float], bars: int
) -> None:
    close = np.array(closes)
    arrays = CandleArrays(close, close + 1, close, close, np.array(volumes[: len(closes)]))
    config = IndicatorConfig(ema_periods=(3, 20), change_bars=(1, 4, 24))

    full = compute(arrays, config)
    tail = compute_tail(arrays, config, bars)

    assert set(tail) == set(full)
    for name, values in full.items():
        expected = values[len(values) - min(bars, len(values)) :]
        np.testing.assert_array_equal(tail[name], expected, err_msg=name)  # NaN equals NaN
        assert not np.isinf(tail[name]).any(), name  # a zero close or mean gives NaN, not inf


def test_a_frame_is_the_rounded_tail_of_the_full_series() -> None:
    full = compute(CandleArrays.from_candles(BTC), CONFIG)
    frame = timeframe_features("BTCUSDT", "1h", BTC, CONFIG)

    for name, values in full.items():
        assert frame.values[name] == pytest.approx(float(values[-1]), abs=5e-7), name
    for name in ("rsi", "macd_hist", "volume_ratio"):
        recent = np.round(full[name][-CONFIG.recent_bars :], 6).tolist()
        assert frame.recent[name] == recent, name
