"""Feature objects for the prompt: latest indicator values plus a short recent series."""

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import numpy as np

from app.indicators.compute import (
    RECENT_SERIES,
    ROUND_DIGITS,
    CandleArrays,
    CandleLike,
    FloatArray,
    frame_table,
)
from app.indicators.schemas import AssetFeatures, IndicatorConfig, TimeframeFeatures


class TimedCandle(CandleLike, Protocol):
    """A candle that knows its open time."""

    @property
    def open_time(self) -> datetime:
        """When the candle opened (tz-aware UTC)."""
        ...


def _rounded_rows(table: FloatArray) -> list[list[float | None]]:
    """Each row of ``table`` rounded to 6 decimals, NaN and infinities as None (one pass).

    numpy's rounding (scale, round half to even, unscale) can differ from ``round`` in the
    last digit for a value a hair from a half: immaterial for a prompt, and the same
    everywhere (every view of the features comes from here).
    """
    return [
        [v if math.isfinite(v) else None for v in row]
        for row in np.round(table, ROUND_DIGITS).tolist()
    ]


def timeframe_features(
    symbol: str,
    interval: str,
    candles: Sequence[TimedCandle],
    config: IndicatorConfig,
) -> TimeframeFeatures:
    """Features of one (symbol, interval) from its closed candles (oldest first).

    Raises:
        ValueError: ``candles`` is empty.
    """
    if not candles:
        raise ValueError(f"no closed candles for {symbol} {interval}")
    return features_of_arrays(
        symbol, interval, candles[-1].open_time, CandleArrays.from_candles(candles), config
    )


def features_of_arrays(
    symbol: str,
    interval: str,
    open_time: datetime,
    arrays: CandleArrays,
    config: IndicatorConfig,
) -> TimeframeFeatures:
    """Features of one (symbol, interval) from its OHLCV columns (oldest first).

    ``open_time`` is the newest candle's. The market view keeps the columns in memory, so a
    tick converts no candle twice.

    Raises:
        ValueError: ``arrays`` is empty.
    """
    if not len(arrays):
        raise ValueError(f"no closed candles for {symbol} {interval}")
    names, table = frame_table(arrays, config)
    # One rounding and one conversion for the whole table, not one per series.
    rows = dict(zip(names, _rounded_rows(table), strict=True))
    # Every field is built here with its exact type: validating them again would cost as
    # much as the rounding.
    return TimeframeFeatures.model_construct(
        symbol=symbol,
        interval=interval,
        open_time=open_time,
        close=float(arrays.close[-1]),
        values={name: rows[name][-1] for name in names[:-1]},
        recent={name: rows[name] for name in RECENT_SERIES},
    )


def asset_features(
    asset: str,
    symbol: str,
    candles_by_interval: Mapping[str, Sequence[TimedCandle]],
    config: IndicatorConfig,
) -> AssetFeatures:
    """The multi-timeframe feature object of one asset."""
    return AssetFeatures(
        asset=asset,
        symbol=symbol,
        timeframes={
            interval: timeframe_features(symbol, interval, candles, config)
            for interval, candles in candles_by_interval.items()
        },
    )


def feature_names(config: IndicatorConfig) -> frozenset[str]:
    """Every feature a timeframe carries (``close`` plus each indicator), for conditions."""
    names = {f"ema_{p}" for p in config.ema_periods}
    names |= {"close", "rsi", "macd", "macd_signal", "macd_hist", "atr", "adx", "obv"}
    names |= {"bb_upper", "bb_middle", "bb_lower", "volume_ratio"}
    names |= {f"change_{n}" for n in config.change_bars}
    return frozenset(names)
