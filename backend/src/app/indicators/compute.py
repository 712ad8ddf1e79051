"""Indicator computation: vectorised TA-Lib over candle arrays.

Every output array is aligned with the input: value ``i`` uses candles ``0..i`` only (TA-Lib
indicators are causal), so an indicator at time t never sees a candle after t. ``float64``
lives here and nowhere else; callers hand in and get back plain arrays.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import talib

type FloatArray = npt.NDArray[np.float64]

# Series worth showing as a trend, not only as a latest value.
RECENT_SERIES: Final = ("close", "rsi", "macd_hist", "volume_ratio")
ROUND_DIGITS: Final = 6
"""Decimals a frame keeps."""


class IndicatorParams(Protocol):
    """The settings this module reads (:class:`~app.indicators.schemas.IndicatorConfig`).

    A protocol rather than the config class itself: the frame worker computes frames with
    a plain copy of these fields, without importing pydantic (most of a second).
    """

    @property
    def ema_periods(self) -> tuple[int, ...]:
        """EMA periods."""
        ...

    @property
    def rsi_period(self) -> int:
        """RSI period."""
        ...

    @property
    def macd_fast(self) -> int:
        """MACD fast EMA period."""
        ...

    @property
    def macd_slow(self) -> int:
        """MACD slow EMA period."""
        ...

    @property
    def macd_signal(self) -> int:
        """MACD signal period."""
        ...

    @property
    def atr_period(self) -> int:
        """ATR period."""
        ...

    @property
    def bbands_period(self) -> int:
        """Bollinger band period."""
        ...

    @property
    def bbands_stddev(self) -> float:
        """Bollinger band width in standard deviations."""
        ...

    @property
    def adx_period(self) -> int:
        """ADX period."""
        ...

    @property
    def volume_mean_period(self) -> int:
        """Bars of the volume mean that ``volume_ratio`` divides by."""
        ...

    @property
    def change_bars(self) -> tuple[int, ...]:
        """Bars of each ``change_<n>``."""
        ...

    @property
    def recent_bars(self) -> int:
        """Bars of a frame's recent series."""
        ...


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


def compute(arrays: CandleArrays, config: IndicatorParams) -> dict[str, FloatArray]:
    """Every configured indicator as an array aligned with the candles (NaN while warming up).

    Names: ``ema_<n>``, ``rsi``, ``macd``, ``macd_signal``, ``macd_hist``, ``atr``,
    ``bb_upper``, ``bb_middle``, ``bb_lower``, ``adx``, ``obv``, ``volume_ratio``
    (volume / its ``volume_mean_period`` mean) and ``change_<n>`` (fractional close change
    over n bars).
    """
    return compute_tail(arrays, config, len(arrays))


def compute_tail(arrays: CandleArrays, config: IndicatorParams, bars: int) -> dict[str, FloatArray]:
    """The last ``bars`` values of every array :func:`compute` returns, bit for bit.

    A frame needs the latest values and a short recent series: the TA-Lib series are
    computed over all the candles (their values depend on where the window starts) and cut,
    while the ratios and changes are computed for the tail alone.
    """
    high, low, close, volume = arrays.high, arrays.low, arrays.close, arrays.volume
    count = close.shape[0]
    start = count - max(0, min(bars, count))
    out: dict[str, FloatArray] = {}
    for period in config.ema_periods:
        out[f"ema_{period}"] = talib.EMA(close, timeperiod=period)[start:]
    out["rsi"] = talib.RSI(close, timeperiod=config.rsi_period)[start:]
    macd, signal, hist = talib.MACD(
        close,
        fastperiod=config.macd_fast,
        slowperiod=config.macd_slow,
        signalperiod=config.macd_signal,
    )
    out["macd"], out["macd_signal"], out["macd_hist"] = macd[start:], signal[start:], hist[start:]
    out["atr"] = talib.ATR(high, low, close, timeperiod=config.atr_period)[start:]
    upper, middle, lower = talib.BBANDS(
        close,
        timeperiod=config.bbands_period,
        nbdevup=config.bbands_stddev,
        nbdevdn=config.bbands_stddev,
    )
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = (
        upper[start:],
        middle[start:],
        lower[start:],
    )
    out["adx"] = talib.ADX(high, low, close, timeperiod=config.adx_period)[start:]
    out["obv"] = talib.OBV(close, volume)[start:]
    mean_volume = talib.SMA(volume, timeperiod=config.volume_mean_period)[start:]
    positive = mean_volume > 0
    if positive.all():  # warmed up, volume traded: the plain quotient
        out["volume_ratio"] = volume[start:] / mean_volume
    else:
        # Divided only where the mean is positive (a zero mean gives "no value", NaN, which
        # the features turn into None): no division by zero, so no error state to switch.
        ratio = np.full(count - start, np.nan)
        np.divide(volume[start:], mean_volume, out=ratio, where=positive)
        out["volume_ratio"] = ratio
    for n in config.change_bars:
        out[f"change_{n}"] = _change(close, n, start)
    return out


def _change(close: FloatArray, bars: int, start: int) -> FloatArray:
    """``close[i] / close[i - bars] - 1`` for i from ``start``.

    NaN where i < bars or the earlier close is zero (no value rather than an infinity).
    """
    if start >= bars:  # every value has its earlier close
        earlier = close[start - bars : close.shape[0] - bars]
        if earlier.all():  # and none is zero: the same two operations, unmasked
            quotient: FloatArray = close[start:] / earlier - 1.0
            return quotient
    result = np.full(close.shape[0] - start, np.nan)
    first = max(start, bars)  # the first index with a close ``bars`` back
    if first < close.shape[0]:
        earlier = close[first - bars : close.shape[0] - bars]
        tail = result[first - start :]
        np.divide(close[first:], earlier, out=tail, where=earlier != 0)
        np.subtract(tail, 1.0, out=tail)
    return result


def frame_table(arrays: CandleArrays, config: IndicatorParams) -> tuple[list[str], FloatArray]:
    """What a frame is made of, unrounded: every indicator then ``close``, one row each.

    Each row holds the series' last ``recent_bars`` values (fewer when there are fewer
    candles), oldest first. Only this tail is derived: the same numbers as cutting full
    arrays, at a fraction of the cost (every frame of every cycle of a backtest comes here).
    """
    series = compute_tail(arrays, config, config.recent_bars)
    series["close"] = arrays.close[len(arrays) - len(series["rsi"]) :]
    table = np.empty((len(series), len(series["close"])))
    for row, values in enumerate(series.values()):  # one copy each, no list of rows
        table[row] = values
    return list(series), table
