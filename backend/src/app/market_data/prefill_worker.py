"""The worker process of :mod:`app.market_data.prefill`: windows in, indicator frames out.

Its process runs :func:`main` (imported by name, so that the jobs unpickle as this
module's classes): it reads jobs from stdin and writes
one batch of frames per job to stdout, in order, until stdin closes. Each message is a
pickle preceded by its length (8 bytes, big-endian); both ends are this package's code.
It imports only what a frame needs: numpy, TA-Lib and this package's light modules (no
pydantic, no web framework, no database), so it starts in about half a second.
"""

import pickle
import struct
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import IO, Any, Final, cast

import numpy as np

from app.indicators.compute import (
    RECENT_SERIES,
    ROUND_DIGITS,
    CandleArrays,
    IndicatorParams,
    frame_table,
)
from app.market_data.frame_batch import FrameBatch, FrameKey
from app.market_data.series import candle_hash, window_digest

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LENGTH: Final = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class WindowJob:
    """Candles of one series, and which of them end a wanted window.

    Attributes:
        opens: Open times (epoch milliseconds), oldest first.
        columns: Their OHLCV columns (5 x n), converted as the market view converts them.
        first: The index of the first candle a frame is wanted for.
        held_bars: Candles per window (as the market view holds them).
        indicators: The indicator set's fields (a plain copy: the worker never imports
            pydantic, see :func:`params`).
    """

    symbol: str
    interval: str
    opens: np.ndarray
    columns: np.ndarray
    first: int
    held_bars: int
    indicators: dict[str, Any]

    def params(self) -> IndicatorParams:
        """The indicator set, as the frame computation reads it."""
        return cast(IndicatorParams, SimpleNamespace(**self.indicators))


def window_frames(job: WindowJob) -> FrameBatch:
    """The frame of every window ending at candle ``job.first`` or later.

    A window is the newest ``held_bars`` candles up to its last, as the market view holds
    them, keyed as the market view looks frames up. Each frame is the market view's own
    table (:func:`~app.indicators.compute.frame_table`), rounded as a frame rounds it and
    kept in the cache's compact form directly (no frame object is built here).
    """
    hashes = [
        candle_hash(int(moment), values)
        for moment, values in zip(job.opens.tolist(), job.columns.T.tolist(), strict=True)
    ]
    params = job.params()
    keys: list[FrameKey] = []
    closes: list[float] = []
    tables: list[np.ndarray] = []
    names: list[str] = []
    combined = 0
    low = 0
    for last in range(job.opens.shape[0]):
        combined ^= hashes[last]
        if last - low + 1 > job.held_bars:  # the window slides: the oldest candle leaves
            combined ^= hashes[low]
            low += 1
        if last < job.first or last + 1 - low < params.recent_bars:
            continue  # not wanted, or too few candles for a full recent series
        window = CandleArrays(*job.columns[:, low : last + 1])
        names, table = frame_table(window, params)
        open_time = _EPOCH + timedelta(milliseconds=int(job.opens[last]))
        keys.append((job.symbol, job.interval, open_time, last + 1 - low, window_digest(combined)))
        closes.append(float(window.close[-1]))
        tables.append(table)
    recent_rows = [names.index(name) for name in RECENT_SERIES] if names else []
    if tables:
        rounded = np.round(np.stack(tables), ROUND_DIGITS)
        rounded[~np.isfinite(rounded)] = np.nan  # a frame's "no value"
    else:
        rounded = np.empty((0, len(names), params.recent_bars))
    return FrameBatch(
        names=tuple(names[:-1]),  # the indicators; the last row is the close
        series=RECENT_SERIES,
        keys=keys,
        closes=np.array(closes, dtype=np.float64),
        values=np.ascontiguousarray(rounded[:, :-1, -1]),
        recent=np.ascontiguousarray(rounded[:, recent_rows, :]),
    )


def write_message(stream: IO[bytes], value: object) -> None:
    """Send ``value`` (length-prefixed pickle)."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_message(stream: IO[bytes]) -> object | None:
    """The next value sent, or None at the end of the stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    value: object = pickle.loads(payload)  # noqa: S301 - written by our own process pair
    return value


def serve(jobs: IO[bytes], batches: IO[bytes]) -> None:
    """Answer every job read from ``jobs`` with its batch on ``batches``, until the end."""
    while (job := read_message(jobs)) is not None:
        if not isinstance(job, WindowJob):
            raise TypeError(f"not a window job: {type(job).__name__}")
        write_message(batches, window_frames(job))


def main() -> None:
    """The worker process: jobs on stdin, batches on stdout."""
    serve(sys.stdin.buffer, sys.stdout.buffer)
