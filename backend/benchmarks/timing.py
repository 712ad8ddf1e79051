"""Timing helpers shared by the benchmarks (``time.perf_counter``, garbage collector paused)."""

import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def _gc_paused() -> Iterator[None]:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_call[T](function: Callable[[], T]) -> tuple[float, T]:
    """Seconds one call of ``function`` takes, and what it returned."""
    with _gc_paused():
        start = time.perf_counter()
        result = function()
        elapsed = time.perf_counter() - start
    return elapsed, result


async def time_await[T](function: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """Seconds one awaited call of ``function`` takes, and what it returned."""
    with _gc_paused():
        start = time.perf_counter()
        result = await function()
        elapsed = time.perf_counter() - start
    return elapsed, result


def best_of(function: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, in seconds (the least disturbed by noise)."""
    times: list[float] = []
    with _gc_paused():  # one collection up front, not one per call: it costs more than they do
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return min(times)


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def rounded(seconds: float, digits: int = 6) -> float:
    """Seconds rounded for the report."""
    return round(seconds, digits)


def versus(
    ours: dict[str, Any],
    base: dict[str, Any],
    rate: str,
    *,
    complete: bool,
    min_rate_ratio: float = 0.5,
    max_p99_ratio: float = 2.0,
) -> dict[str, Any]:
    """Throughput (``rate`` key) and p99 of ``ours`` against ``base``, and the goal verdict.

    ``complete``: neither side lost anything (errors, undelivered messages).
    """
    if rate not in ours or rate not in base:
        return {"met": False}
    throughput = ours[rate] / base[rate]
    p99 = ours["p99_ms"] / base["p99_ms"]
    return {
        f"{rate}_ratio": round(throughput, 3),
        "p99_ratio": round(p99, 3),
        "met": throughput >= min_rate_ratio and p99 <= max_p99_ratio and complete,
    }
