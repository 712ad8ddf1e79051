"""A backtest's indicator frames, computed on the other core ahead of the loop.

The indicator frames are most of a backtest cycle's work, and in a backtest every candle is
known before the first cycle: the frame the market view will need for each candle can be
computed in advance. :func:`prefill` hands the recorded candles to a worker process
(:mod:`app.market_data.prefill_worker`), which rebuilds each window exactly as
:class:`~app.market_data.series.CandleSeries` holds it (the newest ``held_bars`` closed
candles, the same float columns), computes its frame with the same
:func:`~app.indicators.features.features_of_arrays`, and sends the frames back in batches,
oldest first, into the loop's :class:`~app.market_data.frames.FrameCache`.

Nothing here can change a result: the cache is keyed by the digest of the exact candles a
frame came from, so a frame computed ahead is used only where the loop holds the very same
candles (a recording with gaps simply misses, and the loop computes that frame itself), and
a batch not ready yet, or a worker that failed, only costs the loop the time to compute.
"""

import contextlib
import fcntl
import pickle
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future, wait
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from app.core.types import interval_delta
from app.exchange.types import Kline
from app.indicators.schemas import IndicatorConfig
from app.market_data.frame_batch import FrameBatch
from app.market_data.frames import FrameCache
from app.market_data.ports import MarketDataSource
from app.market_data.prefill_worker import WindowJob, read_message, write_message

BATCH_FRAMES: Final = 400
"""Frames per batch, at most: each message carries some overhead (a pickle, a thread switch)."""
FIRST_BATCH_FRAMES: Final = 25
"""Frames in each series' first batch; the next ones double up to :data:`BATCH_FRAMES`, so
the first frames arrive soon after the worker starts, while the loop computes its own."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Prefill:
    """The worker process computing a run's frames; :meth:`close` it when the run ends.

    A thread writes the jobs to the worker and another reads the batches back into the
    futures the cache waits on, so the loop never blocks on the worker.
    """

    def __init__(self, cache: FrameCache) -> None:
        self._cache = cache
        self._futures: list[Future[FrameBatch]] = []
        # Started first, fed later: the worker imports (half a second) while the run is set
        # up. As a module of this interpreter, not through multiprocessing: that would
        # import the caller's main module (the whole command line) in the worker first.
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from app.market_data.prefill_worker import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                _widen(stream.fileno())

    def submit(self, jobs: Sequence[WindowJob]) -> None:
        """Have the worker compute these windows (once; in this order)."""
        if self._futures:
            raise RuntimeError("the frame worker was already given its jobs")
        self._futures = [Future() for _ in jobs]
        self._cache.expect(self._futures)
        threading.Thread(target=self._write, args=(list(jobs),), daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _write(self, jobs: list[WindowJob]) -> None:
        stream = self._process.stdin
        if stream is None:  # never: opened as a pipe above
            return
        try:
            for job in jobs:
                write_message(stream, job)
            stream.close()
        except (OSError, ValueError):
            pass  # the worker was stopped (the run ended): nothing left to send

    def _read(self) -> None:
        stream = self._process.stdout
        for index, future in enumerate(self._futures):
            failure: BaseException | None = None
            try:
                batch = read_message(stream) if stream is not None else None
            except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
                batch, failure = None, exc
            if not isinstance(batch, FrameBatch):
                # The worker died or was stopped: the loop computes the remaining frames.
                reason = failure or RuntimeError("the frame worker stopped early")
                for waiting in self._futures[index:]:
                    if waiting.set_running_or_notify_cancel():
                        waiting.set_exception(reason)
                return
            if future.set_running_or_notify_cancel():
                future.set_result(batch)

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self._process.pid

    def wait(self, timeout: float) -> bool:
        """Block until every batch arrived (or failed) and merge them; False on timeout.

        The loop never waits (it computes what has not arrived); a caller that wants the
        frames first (a benchmark, a test) does.
        """
        _done, pending = wait(self._futures, timeout=timeout)
        self._cache.merge_ready()
        return not pending

    def close(self) -> None:
        """Stop the worker (frames not merged yet are dropped; the loop computes them)."""
        self._cache.forget_pending()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe to a killed worker
                    stream.close()


async def prefill_window(
    worker: Prefill,
    source: MarketDataSource,
    symbols: Sequence[str],
    intervals: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    held_bars: int,
    indicators: IndicatorConfig,
) -> None:
    """:func:`prefill` the frames a run from ``start`` to ``end`` needs, read from ``source``.

    ``source`` must serve every candle of the window as closed (a recording on a clock at
    ``end`` or later).
    """
    series: dict[tuple[str, str], Sequence[Kline]] = {}
    for symbol in symbols:
        for interval in intervals:
            step = interval_delta(interval)
            candles = await source.candles(
                symbol, interval, start=start - step * (held_bars + 1), end=end
            )
            series[(symbol, interval)] = [c for c in candles if c.closed]
    # From the candle the first cycle decides on (the one closing at or before ``start``).
    first = start - max(interval_delta(i) for i in intervals)
    prefill(worker, series, held_bars=held_bars, indicators=indicators, first=first)


def prefill(
    worker: Prefill,
    series: dict[tuple[str, str], Sequence[Kline]],
    *,
    held_bars: int,
    indicators: IndicatorConfig,
    first: datetime,
) -> None:
    """Have ``worker`` compute the frames of ``series`` from the candle opening at ``first`` on.

    Args:
        worker: The worker of the loop's frame cache (the batches are merged into it as
            they arrive).
        series: Every closed candle of each (symbol, interval) the run reads, oldest first
            (with the ``held_bars`` before ``first``: the first windows need them).
        held_bars: Candles the market view holds per series.
        indicators: The indicator set the market view computes.
        first: The open time of the first candle a frame is wanted for.
    """
    fields = indicators.model_dump()  # the worker reads them without pydantic
    jobs: list[tuple[datetime, WindowJob]] = []
    for (symbol, interval), candles in series.items():
        opens = np.array([_ms(c.open_time) for c in candles], dtype=np.int64)
        # The same conversion as CandleSeries: the worker's columns are the loop's, bit for bit.
        columns = np.array(
            [
                (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume))
                for c in candles
            ],
            dtype=np.float64,
        ).T.reshape(5, -1)
        begin = int(np.searchsorted(opens, _ms(first)))
        size = FIRST_BATCH_FRAMES
        while begin < len(candles):
            end = min(begin + size, len(candles))
            low = max(0, begin - held_bars + 1)
            job = WindowJob(
                symbol,
                interval,
                opens[low:end],
                np.ascontiguousarray(columns[:, low:end]),
                begin - low,
                held_bars,
                fields,
            )
            jobs.append((candles[begin].open_time, job))
            begin, size = end, min(2 * size, BATCH_FRAMES)
    worker.submit([job for _, job in sorted(jobs, key=lambda job: job[0])])


PIPE_BYTES: Final = 1 << 20
"""Pipe capacity asked for (Linux's default ceiling for an unprivileged process)."""


def _widen(descriptor: int) -> None:
    """Let a pipe hold whole batches (a few hundred KB), where the system allows it.

    With the default 64 KB, the worker stops after every chunk of a batch until this
    process's reader thread wins the interpreter lock from the busy loop (milliseconds
    each time): the worker spent a third of its time waiting. A pipe that cannot grow
    (another system, a lower limit) only keeps that cost.
    """
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(descriptor, setter, PIPE_BYTES)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)
