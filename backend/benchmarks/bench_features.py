"""Feature building for many assets: ``asset_features`` over 2 intervals x 250 real candles.

Synthetic assets cycle over BTC, ETH and SOL, each on its own window of real candles (a
different offset per asset). Building is timed for 10, 50 and 100 assets, best of
``REPEAT`` each. The 10-asset run is the in-process baseline for linearity:
``(time(100) / time(10)) / 10`` should stay near 1.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any, Final

from app.exchange.types import Kline
from app.indicators.features import asset_features
from app.indicators.schemas import IndicatorConfig
from benchmarks.candles import real_klines
from benchmarks.timing import best_of, machine, rounded

SYMBOLS: Final = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
INTERVALS: Final = ("1h", "15m")
CANDLES: Final = 250  # the default backfill
STEP: Final = 500  # offset between two windows of the same symbol
SIZES: Final = (10, 50, 100)
REPEAT: Final = 5
GOAL_S: Final = 0.5
LINEAR_RANGE: Final = (0.7, 1.5)

type Asset = tuple[str, str, dict[str, Sequence[Kline]]]


def load_assets(count: int) -> list[Asset]:
    """``count`` synthetic assets ``(asset, symbol, candles by interval)``."""
    assets: list[Asset] = []
    for index in range(count):
        symbol = SYMBOLS[index % len(SYMBOLS)]
        skip = (index // len(SYMBOLS)) * STEP
        assets.append(
            (
                f"A{index:03d}",
                symbol,
                {interval: real_klines(symbol, interval, CANDLES, skip) for interval in INTERVALS},
            )
        )
    return assets


def run() -> dict[str, Any]:
    """Measure and return the report."""
    assets = load_assets(max(SIZES))
    config = IndicatorConfig()

    def build(count: int) -> None:
        for asset, symbol, candles in assets[:count]:
            asset_features(asset, symbol, candles, config)

    build(len(SYMBOLS))  # warm up
    times = {count: best_of(partial(build, count), REPEAT) for count in SIZES}
    smallest, largest = min(SIZES), max(SIZES)
    linearity = (times[largest] / times[smallest]) / (largest / smallest)
    low, high = LINEAR_RANGE
    return {
        "benchmark": "features",
        "goal": f"{largest} assets x {len(INTERVALS)} intervals < {GOAL_S} s, linear in assets "
        f"({low} <= linearity <= {high})",
        "met": times[largest] < GOAL_S and low <= linearity <= high,
        "ratio": round(linearity, 3),
        "ratio_definition": f"(time({largest}) / time({smallest})) / {largest // smallest}",
        "intervals": list(INTERVALS),
        "candles_per_series": CANDLES,
        "repeat": REPEAT,
        "seconds": {str(count): rounded(t) for count, t in times.items()},
        "ms_per_asset": {str(count): rounded(t / count * 1000, 3) for count, t in times.items()},
        "machine": machine(),
    }
