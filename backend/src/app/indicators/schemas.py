"""Indicator configuration and the feature objects handed to the prompt."""

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IndicatorConfig(BaseModel):
    """Which indicators to compute and with which periods (all configurable).

    ``fingerprint`` identifies the set: snapshots computed with another configuration are
    stored under another key and never overwrite what earlier decisions saw.
    """

    model_config = ConfigDict(frozen=True)

    ema_periods: tuple[int, ...] = (20, 50, 200)
    rsi_period: int = Field(default=14, ge=2)
    macd_fast: int = Field(default=12, ge=2)
    macd_slow: int = Field(default=26, ge=3)
    macd_signal: int = Field(default=9, ge=1)
    atr_period: int = Field(default=14, ge=1)
    bbands_period: int = Field(default=20, ge=2)
    bbands_stddev: float = Field(default=2.0, gt=0)
    adx_period: int = Field(default=14, ge=2)
    volume_mean_period: int = Field(default=20, ge=1)
    change_bars: tuple[int, ...] = (1, 4, 24)
    recent_bars: int = Field(default=8, ge=1, le=100)

    @property
    def warmup_bars(self) -> int:
        """Closed candles needed before every indicator has a value (slowest first)."""
        slow = [
            *self.ema_periods,
            self.macd_slow + self.macd_signal,
            2 * self.adx_period,
            self.bbands_period,
            self.rsi_period + 1,
            self.atr_period + 1,
            self.volume_mean_period,
            *(n + 1 for n in self.change_bars),
        ]
        return max(slow)

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the configuration."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class TimeframeFeatures(BaseModel):
    """One (symbol, interval): latest indicator values and a short recent series.

    Attributes:
        open_time: Open time of the last closed candle the values belong to.
        values: Latest value of every indicator (None while warming up).
        recent: The last ``recent_bars`` values of a few series, oldest first.
    """

    model_config = ConfigDict(frozen=True)

    symbol: str
    interval: str
    open_time: datetime
    close: float
    values: dict[str, float | None]
    recent: dict[str, list[float | None]]


class AssetFeatures(BaseModel):
    """Everything the prompt says about one asset, across timeframes."""

    model_config = ConfigDict(frozen=True)

    asset: str
    symbol: str
    timeframes: dict[str, TimeframeFeatures]
