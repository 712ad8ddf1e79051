"""The real historical candles of ``backend/tests/candles`` (see its README), for benchmarks.

CSV parsing is done once per file and cached, so no benchmark ever times it.
"""

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Final

from app.exchange.types import Kline
from app.market_data.replay import CandleRow, read_candle_csv

# backend/benchmarks/candles.py -> parents[1] is backend/; the tests keep the real candles.
CANDLES_DIR: Final = Path(__file__).resolve().parents[1] / "tests" / "candles"

# Binance's pre-launch placeholder candles (flat, zero volume) come before these instants; the
# data README asks benchmarks to start BTC at 2019-09-10 and ETH at 2019-11-28 or later.
_CLEAN_FROM_MS: Final[dict[str, int]] = {
    "BTCUSDT": int(datetime(2019, 9, 10, tzinfo=UTC).timestamp() * 1000),
    "ETHUSDT": int(datetime(2019, 11, 28, tzinfo=UTC).timestamp() * 1000),
}


@cache
def candle_rows(symbol: str, interval: str) -> tuple[CandleRow, ...]:
    """Every clean row of ``SYMBOL-INTERVAL.csv``, oldest first (listing placeholders dropped).

    Raises:
        app.market_data.replay.ReplayDataError: The file is missing or malformed.
    """
    rows = read_candle_csv(CANDLES_DIR / f"{symbol}-{interval}.csv.gz")
    since = _CLEAN_FROM_MS.get(symbol, 0)
    return tuple(row for row in rows if row.open_ms >= since)


def to_klines(symbol: str, interval: str, rows: tuple[CandleRow, ...]) -> list[Kline]:
    """Closed :class:`Kline` objects from recorded rows (quote volume = volume x close)."""
    return [row.kline(symbol, interval) for row in rows]


def real_klines(symbol: str, interval: str, count: int | None = None, skip: int = 0) -> list[Kline]:
    """``count`` closed candles after the first ``skip`` clean ones (all when ``count`` is None).

    Raises:
        ValueError: The file holds fewer than ``skip + count`` clean candles.
    """
    rows = candle_rows(symbol, interval)
    end = len(rows) if count is None else skip + count
    if end > len(rows):
        raise ValueError(f"{symbol}-{interval} has {len(rows)} clean candles, {end} wanted")
    return to_klines(symbol, interval, rows[skip:end])
