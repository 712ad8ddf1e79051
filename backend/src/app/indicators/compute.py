"""Indicator computation: vectorised TA-Lib over candle arrays.

Every output array is aligned with the input: value ``i`` uses candles ``0..i`` only (TA-Lib
indicators are causal), so an indicator at time t never sees a candle after t. ``float64``
lives here and nowhere else; callers hand in and get back plain arrays.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt
import talib

from app.indicators.schemas import IndicatorConfig

type FloatArray = npt.NDArray[np.float64]


class CandleLike(Protocol):
    """Anything with OHLCV prices (exchange Kline, replay candle, ORM row)."""

    @property
    def open(self) -> Decimal:
        """Open price."""
        ...

    @property
    def high(self) -> Decimal:
        """High price."""
        ...

    @property
    def low(self) -> Decimal:
        """Low price."""
        ...

    @property
    def close(self) -> Decimal:
        """Close price."""
        ...

    @property
    def volume(self) -> Decimal:
        """Volume (base asset)."""
        ...


@dataclass(frozen=True, slots=True)
class CandleArrays:
    """OHLCV columns, oldest first, as float64 arrays of equal length."""

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @classmethod
    def from_candles(cls, candles: Sequence[CandleLike]) -> "CandleArrays":
        """Columns from candle objects (oldest first)."""
        rows = np.array(
            [(c.open, c.high, c.low, c.close, c.volume) for c in candles], dtype=np.float64
        ).reshape(-1, 5)
        return cls(*(np.ascontiguousarray(rows[:, i]) for i in range(5)))

    def __len__(self) -> int:
        return int(self.close.shape[0])


def compute(arrays: CandleArrays, config: IndicatorConfig) -> dict[str, FloatArray]:
    """Every configured indicator as an array aligned with the candles (NaN while warming up).

    Names: ``ema_<n>``, ``rsi``, ``macd``, ``macd_signal``, ``macd_hist``, ``atr``,
    ``bb_upper``, ``bb_middle``, ``bb_lower``, ``adx``, ``obv``, ``volume_ratio``
    (volume / its ``volume_mean_period`` mean) and ``change_<n>`` (fractional close change
    over n bars).
    """
    high, low, close, volume = arrays.high, arrays.low, arrays.close, arrays.volume
    out: dict[str, FloatArray] = {}
    for period in config.ema_periods:
        out[f"ema_{period}"] = talib.EMA(close, timeperiod=period)
    out["rsi"] = talib.RSI(close, timeperiod=config.rsi_period)
    out["macd"], out["macd_signal"], out["macd_hist"] = talib.MACD(
        close,
        fastperiod=config.macd_fast,
        slowperiod=config.macd_slow,
        signalperiod=config.macd_signal,
    )
    out["atr"] = talib.ATR(high, low, close, timeperiod=config.atr_period)
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = talib.BBANDS(
        close,
        timeperiod=config.bbands_period,
        nbdevup=config.bbands_stddev,
        nbdevdn=config.bbands_stddev,
    )
    out["adx"] = talib.ADX(high, low, close, timeperiod=config.adx_period)
    out["obv"] = talib.OBV(close, volume)
    mean_volume = talib.SMA(volume, timeperiod=config.volume_mean_period)
    # One error-state switch for every division (a zero volume mean or close gives NaN or
    # inf, which the features turn into "no value"), not one per division.
    with np.errstate(divide="ignore", invalid="ignore"):
        out["volume_ratio"] = np.where(mean_volume > 0, volume / mean_volume, np.nan)
        for bars in config.change_bars:
            out[f"change_{bars}"] = _change(close, bars)
    return out


def _change(close: FloatArray, bars: int) -> FloatArray:
    result = np.empty_like(close)
    result[: min(bars, close.shape[0])] = np.nan
    if close.shape[0] > bars:
        np.divide(close[bars:], close[:-bars], out=result[bars:])
        result[bars:] -= 1.0
    return result
