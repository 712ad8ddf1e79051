"""Feature frames shared by several passes over the same candles (a backtest and its replays).

A decision replay re-runs a backtest's cycles on the same candles under other risk
settings: every indicator frame it needs was computed by the first pass. A
:class:`FrameCache` given to both passes' market views keeps each frame once, keyed by the
exact content of the candles it came from (a digest of their OHLCV columns), so a frame is
only ever reused for identical inputs. Frames are kept compactly (numpy rows, about 0.7 KB
each: a year of three assets on 1h and 4h is some 25 MB) and rebuilt on a hit.

A cache can also be filled ahead of the loop (:mod:`app.market_data.prefill` computes a
backtest's frames on the other core): batches still being computed are merged as they
arrive, at the first miss after they are ready.
"""

import logging
import math
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from app.indicators.schemas import TimeframeFeatures
from app.market_data.frame_batch import FrameBatch, FrameKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Kept:
    close: float
    values: np.ndarray
    recent: np.ndarray
    whole: bool  # no value missing (NaN): the rows convert to lists as they are


class FrameCache:
    """Feature frames by the content of their candles (see the module docstring)."""

    def __init__(self) -> None:
        self._frames: dict[FrameKey, _Kept] = {}
        self._names: tuple[str, ...] | None = None
        self._series: tuple[str, ...] | None = None
        self._pending: deque[Future[FrameBatch]] = deque()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: FrameKey) -> TimeframeFeatures | None:
        """The frame computed from exactly these candles, or None."""
        kept = self._frames.get(key)
        if kept is None and self._pending:
            self.merge_ready()
            kept = self._frames.get(key)
        if kept is None or self._names is None or self._series is None:
            return None
        self.hits += 1
        symbol, interval, open_time, _, _ = key
        if kept.whole:  # most frames once warmed up: no NaN to turn into None
            values = dict(zip(self._names, kept.values.tolist(), strict=True))
            recent = dict(zip(self._series, kept.recent.tolist(), strict=True))
        else:
            values = dict(zip(self._names, _optional(kept.values), strict=True))
            recent = {
                name: _optional(row) for name, row in zip(self._series, kept.recent, strict=True)
            }
        return TimeframeFeatures.model_construct(
            symbol=symbol,
            interval=interval,
            open_time=open_time,
            close=kept.close,
            values=values,
            recent=recent,
        )

    def put(self, key: FrameKey, frame: TimeframeFeatures) -> None:
        """Keep ``frame`` (computed from the candles ``key`` names)."""
        names, series = tuple(frame.values), tuple(frame.recent)
        if self._names is None:
            self._names, self._series = names, series
        elif (names, series) != (self._names, self._series):
            return  # another indicator set: not this cache's
        lengths = {len(row) for row in frame.recent.values()}
        if len(lengths) != 1:
            return  # ragged recent rows (too few candles yet): not worth keeping
        values = np.array([_nan(v) for v in frame.values.values()], dtype=np.float64)
        recent = np.array(
            [[_nan(v) for v in row] for row in frame.recent.values()], dtype=np.float64
        )
        whole = not (np.isnan(values).any() or np.isnan(recent).any())
        self._frames[key] = _Kept(frame.close, values, recent, whole)

    def merge(self, batch: FrameBatch) -> None:
        """Hold the frames of ``batch`` too (unless they carry another indicator set)."""
        if not batch.keys:
            return  # nothing in it, not even the indicator set's names
        if self._names is None:
            self._names, self._series = batch.names, batch.series
        elif (batch.names, batch.series) != (self._names, self._series):
            return
        closes = batch.closes.tolist()
        missing = np.isnan(batch.values).any(axis=1) | np.isnan(batch.recent).any(axis=(1, 2))
        for index, (key, partial) in enumerate(zip(batch.keys, missing.tolist(), strict=True)):
            self._frames[key] = _Kept(
                closes[index], batch.values[index], batch.recent[index], not partial
            )

    def expect(self, batches: Iterable[Future[FrameBatch]]) -> None:
        """Merge these batches once they are computed (oldest first, at a miss)."""
        self._pending.extend(batches)

    def merge_ready(self) -> None:
        """Merge the expected batches that have arrived (a failed one stops the waiting)."""
        while self._pending and self._pending[0].done():
            future = self._pending.popleft()
            if future.cancelled():
                continue
            try:
                self.merge(future.result())
            except Exception as exc:  # any worker failure (a crash, a bug): compute here
                # The frames are computed in the loop instead: slower, never different.
                logger.warning("indicator frames ahead of the loop failed (%r)", exc)
                self.forget_pending()

    def forget_pending(self) -> None:
        """Stop waiting for batches not merged yet (the run ended or their worker died)."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _optional(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]
