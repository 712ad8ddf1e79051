"""A year's backtest: the rules provider over the bundled candles, and the baseline.

The run is ``trading-agent backtest`` without the terminal: 3 assets (BTC, ETH, SOL),
``INTERVAL=1h``, ``LONG_INTERVAL=4h``, the real candles of ``backend/tests/candles`` from
``START`` to ``END`` (8,760 hourly decisions), on the paper exchange, the simulated clock and
the in-memory journal: the same ``AgentLoop`` as live trading. Reading the recording is timed
apart (``load_s``); the run's throughput is the hourly candles it decided on per second.

Decision replay: the year's 8,760 recorded decisions re-judged (``replay_run``, unchanged
settings: one more pass of the loop with the recorded decisions as the provider, no model,
and the run's indicator frames reused: the candles are the same); goal: under 10 s.

Baseline, in the same process: a simple EMA(12/26) cross rule over the same hourly closes
(numpy indicators, one pass over the bars, a position per asset, fees): the kind of
vectorised-indicator backtest a rules-only backtester runs, its reading of the recording
timed apart as ours is. ``ratio_to_baseline`` is our candles per second over the
baseline's: a measure of the machine's speed at that moment, not a goal. Goal: at least
5,000 candles per second.
"""

import asyncio
import statistics
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import talib

from app.backtest.engine import run_backtest
from app.backtest.replay import replay_run
from app.backtest.sources import csv_source
from app.backtest.spec import BacktestSpec
from app.market_data.frames import FrameCache
from benchmarks.candles import CANDLES_DIR, candle_rows
from benchmarks.timing import machine, rounded

START: Final = datetime(2025, 4, 27, tzinfo=UTC)
END: Final = datetime(2026, 4, 27, tzinfo=UTC)  # SOL 1h ends 2026-04-27 10:00
ASSETS: Final = ("BTC", "ETH", "SOL")
GOAL_CANDLES_PER_S: Final = 5_000.0
GOAL_REPLAY_S: Final = 10.0
BASELINE_MIN_S: Final = 0.5


def _ema_cross(closes: Iterable[np.ndarray]) -> float:
    """The rule over each asset's closes: one position per asset, 0.07 % per switch."""
    equity = 0.0
    for close in closes:
        fast, slow = talib.EMA(close, 12), talib.EMA(close, 26)
        position, entry = 0, 0.0
        for i in range(26, len(close)):
            want = 1 if fast[i] > slow[i] else -1
            if want != position:
                if position:
                    equity += position * (close[i] - entry) / entry - 0.0007
                position, entry = want, close[i]
    return equity


def baseline() -> dict[str, Any]:
    """The EMA-cross rule over the same window's hourly closes, timed apart from reading them.

    Like ours: reading and parsing the recording is ``load_s``, not part of the rate (until
    2026-12-03 it was, and it made nearly all of the baseline's time).
    """
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (START, END))
    began = time.perf_counter()
    closes = {
        asset: np.array(
            [
                float(r.close)
                for r in candle_rows(f"{asset}USDT", "1h")
                if start_ms <= r.open_ms < end_ms
            ]
        )
        for asset in ASSETS
    }
    load = time.perf_counter() - began
    began = time.perf_counter()
    candles = 0
    # One pass takes a few milliseconds: passes are repeated for half a second, so that the
    # rate is not a single timer reading.
    while candles == 0 or time.perf_counter() - began < BASELINE_MIN_S:
        _ema_cross(closes.values())
        candles += sum(len(close) for close in closes.values())
    elapsed = time.perf_counter() - began
    return {
        "candles": candles,
        "load_s": rounded(load),
        "seconds": rounded(elapsed),
        "candles_per_s": candles / elapsed,
    }


async def ours() -> dict[str, Any]:
    """The backtest, timed apart from reading the recording."""
    began = time.perf_counter()
    source_of = csv_source(CANDLES_DIR)
    spec = BacktestSpec(START, END, ASSETS, interval="1h", long_interval="4h")
    # A one-day run reads every file the year needs: what remains is the year's work.
    await run_backtest(BacktestSpec(START, START.replace(day=28), ASSETS), source_of)
    load = time.perf_counter() - began
    began = time.perf_counter()
    # Kept frames: the replay below re-judges the run on the same candles and reuses them.
    run = await run_backtest(spec, source_of, frames=FrameCache())
    elapsed = time.perf_counter() - began
    assert run.progress is not None
    began = time.perf_counter()
    replayed = await replay_run(run, {})
    replay_s = time.perf_counter() - began
    assert len(replayed.replay.trades) == len(replayed.original.trades)
    return {
        "ticks": run.progress.ticks,
        "candles": run.progress.candles,
        "decisions": run.progress.decisions,
        "fills": run.progress.trades,
        "load_s": rounded(load),
        "seconds": rounded(elapsed),
        "candles_per_s": run.progress.candles / elapsed,
        "ticks_per_s": run.progress.ticks / elapsed,
        "replay_decisions": replayed.served,
        "replay_s": replay_s,
    }


def run(rounds: int = 1) -> dict[str, Any]:
    """Both runs and the report; with ``rounds`` > 1, alternated that many times.

    These machines' speed swings by a third within minutes: the medians of alternated
    rounds (each ratio taken against the baseline of its own round) say more than one run.
    """
    pairs = [(asyncio.run(ours()), baseline()) for _ in range(max(1, rounds))]
    measured = {
        key: (
            statistics.median(float(m[key]) for m, _ in pairs)
            if isinstance(pairs[0][0][key], float)
            else pairs[0][0][key]
        )
        for key in pairs[0][0]
    }
    base = {key: statistics.median(b[key] for _, b in pairs) for key in pairs[0][1]}
    ratio = statistics.median(m["candles_per_s"] / b["candles_per_s"] for m, b in pairs)
    report: dict[str, Any] = {
        "benchmark": "backtest",
        "window": [START.isoformat(), END.isoformat()],
        "assets": list(ASSETS),
        "intervals": ["1h", "4h"],
        "provider": "rules",
        "rounds": len(pairs),
        "ours": {k: rounded(v) if isinstance(v, float) else v for k, v in measured.items()},
        "baseline_ema_cross": {k: rounded(v) for k, v in base.items()},
        "ratio_to_baseline": rounded(ratio),
        "goal": {"candles_per_s": GOAL_CANDLES_PER_S, "replay_s": GOAL_REPLAY_S},
        "met": measured["candles_per_s"] >= GOAL_CANDLES_PER_S
        and measured["replay_s"] <= GOAL_REPLAY_S,
        "machine": machine(),
    }
    if len(pairs) > 1:
        report["each_round"] = [
            {
                "candles_per_s": rounded(m["candles_per_s"]),
                "replay_s": rounded(m["replay_s"]),
                "baseline_candles_per_s": rounded(b["candles_per_s"]),
            }
            for m, b in pairs
        ]
    return report


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="alternated runs (medians)")
    print(json.dumps(run(parser.parse_args().rounds)))
