"""The real historical candles of ../shared/data/candles, for tests and benchmarks."""

from functools import cache
from pathlib import Path
from typing import Final

from app.exchange.types import Kline
from app.market_data.replay import CandleRow, read_candle_csv

SHARED_CANDLES: Final = Path(__file__).resolve().parents[3] / "shared" / "data" / "candles"


@cache
def _rows(symbol: str, interval: str) -> tuple[CandleRow, ...]:
    return tuple(read_candle_csv(SHARED_CANDLES / f"{symbol}-{interval}.csv"))


def real_klines(symbol: str, interval: str, count: int | None = None, skip: int = 0) -> list[Kline]:
    """Closed candles from the shared data set, oldest first (``skip`` from the start)."""
    rows = _rows(symbol, interval)[skip : skip + count if count is not None else None]
    return [r.kline(symbol, interval) for r in rows]
