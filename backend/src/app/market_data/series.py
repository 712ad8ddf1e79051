"""The recent closed candles of one (symbol, interval), held in memory for the indicators.

A tick used to read 250 candles back from SQL per series and convert them to floats; now the
market view keeps them here, appended as each candle closes, with their OHLCV columns as
float64 arrays ready for TA-Lib. The database still gets every candle (it is the record and
the warm start); this is only the working set.
"""

import bisect
import hashlib
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from app.exchange.types import Kline
from app.indicators.compute import CandleArrays

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)
_CANDLE: Final = struct.Struct("<q5d")


class CandleSeries:
    """Closed candles of one series, oldest first, capped at ``capacity`` (the newest kept).

    Candles are immutable once closed: a candle whose open time is already held is ignored,
    as the database's insert-if-absent does.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a series holds at least one candle")
        self._capacity = capacity
        self._candles: list[Kline] = []
        self._times: list[datetime] = []
        # Columns of the held candles live at [_start, _start + len) of a buffer twice the
        # capacity: dropping the oldest moves _start, and only a full buffer is compacted
        # (a numpy copy, no Decimal converted again).
        self._columns = np.empty((5, 2 * capacity), dtype=np.float64)
        self._start = 0
        # The digest of the held candles, kept as they come and go (see candle_hash).
        self._hashes: list[int] = []
        self._digest = 0
        self.version = 0
        """Bumped whenever the held candles change (for caches of derived values)."""

    def __len__(self) -> int:
        return len(self._candles)

    @property
    def last_open_time(self) -> datetime | None:
        """Open time of the newest held candle."""
        return self._times[-1] if self._times else None

    @property
    def first_open_time(self) -> datetime | None:
        """Open time of the oldest held candle."""
        return self._times[0] if self._times else None

    def __contains__(self, open_time: object) -> bool:
        if not isinstance(open_time, datetime):
            return False
        index = bisect.bisect_left(self._times, open_time)
        return index < len(self._times) and self._times[index] == open_time

    def add(self, candles: Iterable[Kline]) -> list[Kline]:
        """Hold these closed candles (any order); returns those that were new."""
        added: list[Kline] = []
        rebuild = False
        for candle in candles:
            if not candle.closed or candle.open_time in self:
                continue
            # Once a gap is refilled the columns are converted again at the end: later
            # candles of the batch only join the lists (the columns are stale until then).
            if not rebuild and (not self._times or candle.open_time > self._times[-1]):
                self._append(candle)
            else:  # a refilled gap: rare, convert the columns again once at the end
                index = bisect.bisect_left(self._times, candle.open_time)
                self._times.insert(index, candle.open_time)
                self._candles.insert(index, candle)
                rebuild = True
            added.append(candle)
        if len(self._candles) > self._capacity:
            drop = len(self._candles) - self._capacity
            del self._candles[:drop]
            del self._times[:drop]
            self._start += drop
            if not rebuild:  # else every hash is taken again below
                for gone in self._hashes[:drop]:
                    self._digest ^= gone
                del self._hashes[:drop]
            # A candle older than a full window of newer ones is dropped at once: it is not
            # held, and nothing derived from the series (features, snapshots) changed.
            added = [c for c in added if c.open_time >= self._times[0]]
        if rebuild:
            self._rebuild()
        if added:
            self.version += 1
        return added

    def _append(self, candle: Kline) -> None:
        end = self._start + len(self._candles)
        if end == self._columns.shape[1]:
            self._compact()
            end = len(self._candles)
        values = (
            float(candle.open),
            float(candle.high),
            float(candle.low),
            float(candle.close),
            float(candle.volume),
        )
        self._columns[:, end] = values
        self._candles.append(candle)
        self._times.append(candle.open_time)
        held = candle_hash(epoch_ms(candle.open_time), values)
        self._hashes.append(held)
        self._digest ^= held

    def _compact(self) -> None:
        """Move the held columns to the front of the buffer (it has room for them all)."""
        count = len(self._candles)
        if count >= self._columns.shape[1]:  # only while a batch overfills: grow
            grown = np.empty((5, 2 * count), dtype=np.float64)
            grown[:, :count] = self._columns[:, self._start : self._start + count]
            self._columns = grown
        else:
            self._columns[:, :count] = self._columns[:, self._start : self._start + count].copy()
        self._start = 0

    def _rebuild(self) -> None:
        self._columns = np.empty(
            (5, max(2 * self._capacity, 2 * len(self._candles))), dtype=np.float64
        )
        self._start = 0
        if self._candles:
            arrays = CandleArrays.from_candles(self._candles)
            for row, column in enumerate(
                (arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
            ):
                self._columns[row, : len(self._candles)] = column
        columns = self._columns[:, : len(self._candles)].T.tolist()
        self._hashes = [
            candle_hash(epoch_ms(moment), tuple(values))
            for moment, values in zip(self._times, columns, strict=True)
        ]
        self._digest = 0
        for held in self._hashes:
            self._digest ^= held

    def latest(self, count: int) -> list[Kline]:
        """The newest ``count`` candles, oldest first."""
        return self._candles[-count:] if count > 0 else []

    def arrays(self, count: int | None = None) -> CandleArrays:
        """OHLCV columns of the newest ``count`` (default: all) candles, oldest first.

        Views of the held columns: valid until the next :meth:`add`.
        """
        held = len(self._candles)
        end = self._start + held
        start = self._start if count is None else end - min(max(count, 0), held)
        return CandleArrays(*(self._columns[row, start:end] for row in range(5)))

    def digest(self) -> bytes:
        """A digest of the held candles (open times and OHLCV columns), for caches.

        Equal digests, equal candles: kept as candles come and go, not hashed per call.
        """
        return window_digest(self._digest)

    def missing(self, oldest: datetime, newest: datetime, step: timedelta) -> list[datetime]:
        """Grid open times from ``oldest`` to ``newest`` (inclusive) that are not held."""
        found: list[datetime] = []
        moment = oldest
        while moment <= newest:
            if moment not in self:
                found.append(moment)
            moment += step
        return found


def epoch_ms(moment: datetime) -> int:
    """``moment`` in milliseconds since the epoch (exact)."""
    return (moment - _EPOCH) // _MILLISECOND


def candle_hash(open_ms: int, values: Sequence[float]) -> int:
    """One candle's part of a series digest: a 128-bit hash of its open time and OHLCV.

    A window's digest is the XOR of its candles' hashes (:func:`window_digest`): it follows
    a sliding window at two XORs per candle, and the open times inside make the order and
    the position of every candle part of it.
    """
    packed = _CANDLE.pack(open_ms, *values)
    return int.from_bytes(hashlib.blake2b(packed, digest_size=16).digest(), "big")


def window_digest(combined: int) -> bytes:
    """The digest of a window from the XOR of its candles' :func:`candle_hash`."""
    return combined.to_bytes(16, "big")
