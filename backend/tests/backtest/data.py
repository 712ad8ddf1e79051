"""A small recording cut from the real candles, written where a test can alter it."""

import csv
import gzip
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final

from app.market_data.replay import CandleRow, read_candle_csv
from tests.data import CANDLES_DIR

FIRST: Final = datetime(2025, 8, 1, tzinfo=UTC)
LAST: Final = datetime(2025, 10, 1, tzinfo=UTC)  # exclusive
START: Final = datetime(2025, 9, 15, tzinfo=UTC)  # 45 days of warm-up before it
END: Final = datetime(2025, 9, 25, tzinfo=UTC)
SYMBOLS: Final = ("BTCUSDT", "ETHUSDT")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def cut(rows: Iterable[CandleRow], first: datetime, last: datetime) -> list[CandleRow]:
    return [r for r in rows if _ms(first) <= r.open_ms < _ms(last)]


def write_recording(
    directory: Path,
    *,
    alter: Callable[[str, CandleRow], CandleRow] | None = None,
    symbols: Iterable[str] = SYMBOLS,
) -> Path:
    """1h candles and funding of ``symbols`` for ``FIRST``..``LAST`` (4h is aggregated)."""
    directory.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        rows = cut(read_candle_csv(CANDLES_DIR / f"{symbol}-1h.csv.gz"), FIRST, LAST)
        with (directory / f"{symbol}-1h.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["open_time_ms", "open", "high", "low", "close", "volume"])
            for row in rows:
                row = alter(symbol, row) if alter is not None else row
                writer.writerow([row.open_ms, row.open, row.high, row.low, row.close, row.volume])
        _copy_funding(symbol, directory)
    return directory


def _copy_funding(symbol: str, directory: Path) -> None:
    with gzip.open(CANDLES_DIR / f"{symbol}-funding.csv.gz", "rt") as source:
        lines = source.read().splitlines()
    kept = [lines[0]] + [
        line for line in lines[1:] if _ms(FIRST) <= int(line.split(",")[0]) < _ms(LAST)
    ]
    (directory / f"{symbol}-funding.csv").write_text("\n".join(kept) + "\n")


def scaled(after: datetime, factor: Decimal) -> Callable[[str, CandleRow], CandleRow]:
    """An alteration: every candle opening at or after ``after`` has its prices scaled."""

    def alter(symbol: str, row: CandleRow) -> CandleRow:
        if row.open_ms < _ms(after):
            return row
        return CandleRow(
            row.open_ms,
            row.open * factor,
            row.high * factor,
            row.low * factor,
            row.close * factor,
            row.volume,
        )

    return alter
