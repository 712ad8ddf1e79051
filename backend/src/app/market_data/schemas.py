"""API shapes of the market data endpoints."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.core.decimals import PlainDecimal


class CandleRead(BaseModel):
    """One candle (or one resampled bucket)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "open_time": "2026-04-01T12:00:00Z",
                "open": "68210.5",
                "high": "68490.0",
                "low": "68100.1",
                "close": "68400.2",
                "volume": "5123.456",
                "candles": 1,
            }
        }
    )

    open_time: datetime
    open: PlainDecimal
    high: PlainDecimal
    low: PlainDecimal
    close: PlainDecimal
    volume: PlainDecimal
    candles: int = Field(default=1, description="Source candles in this row (resampling)")


class CandlesRead(BaseModel):
    """A page of candles, oldest first."""

    symbol: str
    interval: str
    bucket: str | None = Field(default=None, description="Resampling width, when asked for")
    candles: list[CandleRead]


class IndicatorSeriesRead(BaseModel):
    """Indicator lines aligned with candles (None while an indicator warms up)."""

    symbol: str
    interval: str
    open_times: list[datetime] = Field(description="Open time of each candle, oldest first")
    series: dict[str, list[float | None]] = Field(
        description="Per indicator (ema_20, ema_50, ema_200, bb_upper, bb_middle, bb_lower), "
        "one value per open time"
    )


class IndicatorsRead(BaseModel):
    """The indicator snapshot of one (symbol, interval) at a closed candle."""

    symbol: str
    interval: str
    open_time: datetime
    indicator_set: str
    computed_at: datetime
    features: dict[str, Any] = Field(description="Latest values and recent series")
