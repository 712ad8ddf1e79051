"""The real historical candles of ``backend/tests/candles`` (see its README), for tests."""

from functools import cache
from pathlib import Path
from typing import Final

from app.exchange.types import Kline
from app.market_data.replay import CandleRow, read_candle_csv

CANDLES_DIR: Final = Path(__file__).resolve().parent / "candles"


@cache
def _rows(symbol: str, interval: str) -> tuple[CandleRow, ...]:
    return tuple(read_candle_csv(CANDLES_DIR / f"{symbol}-{interval}.csv.gz"))


def real_klines(symbol: str, interval: str, count: int | None = None, skip: int = 0) -> list[Kline]:
    """Closed candles from the recorded data, oldest first (``skip`` from the start)."""
    rows = _rows(symbol, interval)[skip : skip + count if count is not None else None]
    return [r.kline(symbol, interval) for r in rows]
