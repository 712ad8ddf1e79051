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
