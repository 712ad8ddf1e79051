"""Indicator computation: 3 assets x 2 intervals x 1,000 real candles.

Ours: ``compute(CandleArrays, IndicatorConfig())`` on the six prebuilt arrays (the goal is
about this), and the same including ``CandleArrays.from_candles`` from Kline objects.
Baseline: as many bare ``talib.EMA`` calls as ``compute`` makes TA-Lib calls (counted, not
assumed), over the same six close arrays. Every figure is the best of ``REPEAT`` runs.

Ratio = our compute time / the baseline time: what the full indicator set costs compared
with the same number of the simplest TA-Lib passes (harder indicators, numpy extras and
Python glue show up as a ratio above 1).
"""

from collections.abc import Callable
from typing import Any, Final
from unittest import mock

import talib

from app.exchange.types import Kline
from app.indicators import compute as compute_module
from app.indicators.compute import CandleArrays, FloatArray, compute
from app.indicators.schemas import IndicatorConfig
from benchmarks.candles import candle_rows, real_klines
from benchmarks.timing import best_of, machine, rounded

SYMBOLS: Final = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
INTERVALS: Final = ("1h", "15m")
CANDLES: Final = 1000
REPEAT: Final = 20
GOAL_S: Final = 0.020


def load_series() -> list[list[Kline]]:
    """The newest ``CANDLES`` closed candles of every (symbol, interval)."""
    return [
        real_klines(symbol, interval, CANDLES, len(candle_rows(symbol, interval)) - CANDLES)
        for symbol in SYMBOLS
        for interval in INTERVALS
    ]


class _TalibCalls:
    """Stands in for the ``talib`` module and counts the calls made through it."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function = getattr(talib, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return function(*args, **kwargs)

        return counted


def talib_calls(arrays: CandleArrays, config: IndicatorConfig) -> int:
    """How many TA-Lib functions one ``compute`` call runs."""
    counter = _TalibCalls()
    with mock.patch.object(compute_module, "talib", counter):
        compute(arrays, config)
    return counter.calls


def run() -> dict[str, Any]:
    """Measure and return the report."""
    series = load_series()
    arrays = [CandleArrays.from_candles(candles) for candles in series]
    config = IndicatorConfig()
    calls = talib_calls(arrays[0], config)
    closes: list[FloatArray] = [one.close for one in arrays]

    def ours() -> None:
        for one in arrays:
            compute(one, config)

    def ours_from_candles() -> None:
        for candles in series:
            compute(CandleArrays.from_candles(candles), config)

    def baseline() -> None:
        for close in closes:
            for _ in range(calls):
                talib.EMA(close, timeperiod=20)

    ours()  # warm up (first TA-Lib calls, numpy dispatch caches)
    baseline()
    baseline_s = best_of(baseline, REPEAT)
    ours_s = best_of(ours, REPEAT)
    with_arrays_s = best_of(ours_from_candles, REPEAT)
    outputs = len(compute(arrays[0], config))
    return {
        "benchmark": "indicators",
        "goal": f"compute() of {len(SYMBOLS)} assets x {len(INTERVALS)} intervals x "
        f"{CANDLES} candles < {GOAL_S * 1000:g} ms",
        "met": ours_s < GOAL_S,
        "ratio": round(ours_s / baseline_s, 2),
        "ratio_definition": "compute() time / as many bare talib.EMA calls as compute() makes "
        "TA-Lib calls, over the same arrays",
        "series": [f"{s}-{i}" for s in SYMBOLS for i in INTERVALS],
        "candles_per_series": CANDLES,
        "indicator_outputs_per_series": outputs,
        "talib_calls_per_series": calls,
        "repeat": REPEAT,
        "compute_ms": rounded(ours_s * 1000, 3),
        "with_from_candles_ms": rounded(with_arrays_s * 1000, 3),
        "baseline_ema_calls_ms": rounded(baseline_s * 1000, 3),
        "machine": machine(),
    }
