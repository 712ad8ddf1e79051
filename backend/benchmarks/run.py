"""Run the benchmarks and print one JSON object per line.

Usage, from the repository root::

    uv run python backend/benchmarks/run.py [--only ingest|indicators|features|rest|ws_fanout|tick]

Goals are reported (``"met"``), never asserted: the exit code is 0 unless a benchmark
crashed, in which case its line carries ``"error"`` and the exit code is 1. A benchmark that
read a file beside the repository (not in it) fails the same way: a clone would not have it.
"""

import argparse
import asyncio
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
BACKEND: Final = HERE.parent
NAMES: Final = ("ingest", "indicators", "features", "rest", "ws_fanout", "tick")


def _importable() -> None:
    """Make ``benchmarks.*`` importable when this file is run as a script.

    ``python backend/benchmarks/run.py`` puts this directory first on ``sys.path``; put
    ``backend/`` there instead, so the package imports by its name and its modules shadow
    nothing.
    """
    if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
        sys.path[0] = str(BACKEND)
    elif str(BACKEND) not in sys.path:
        sys.path.insert(0, str(BACKEND))


def _benchmarks() -> dict[str, Callable[[], dict[str, Any]]]:
    _importable()
    from benchmarks import (
        bench_backtest,
        bench_features,
        bench_indicators,
        bench_ingest,
        bench_rest,
        bench_tick,
        bench_ws_fanout,
    )

    return {
        "ingest": lambda: asyncio.run(bench_ingest.run()),
        "indicators": bench_indicators.run,
        "features": bench_features.run,
        "rest": bench_rest.run,
        "ws_fanout": bench_ws_fanout.run,
        "tick": lambda: asyncio.run(bench_tick.run()),
        "backtest": bench_backtest.run,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; 0 when none crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only", choices=NAMES, action="append", help="run only this benchmark (repeatable)"
    )
    args = parser.parse_args(argv)
    chosen: list[str] = args.only or list(NAMES)
    _importable()
    from tests.read_guard import default_guard, watch
    from tests.read_guard import report as outside_report

    status = 0
    with watch(default_guard(BACKEND.parent)) as guard:
        benchmarks = _benchmarks()
        for name in chosen:
            try:
                report = benchmarks[name]()
            except Exception as exc:
                traceback.print_exc()
                report = {"benchmark": name, "error": f"{exc.__class__.__name__}: {exc}"}
                status = 1
            if outside := guard.take():
                print(outside_report(outside), file=sys.stderr)
                report = {"benchmark": name, "error": "read outside the repository"}
                status = 1
            print(json.dumps(report), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
