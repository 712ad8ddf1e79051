"""Frames in their compact, stacked form, as the frame worker sends them to the cache.

Apart from :mod:`app.market_data.frames` because the worker imports it: nothing here may
pull in pydantic or the rest of the application (the worker starts while a run is set up).
"""

from dataclasses import dataclass
from datetime import datetime

import numpy as np

FrameKey = tuple[str, str, datetime, int, bytes]
"""(symbol, interval, newest open time, candles held, digest of their columns)."""


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Frames in their compact form, stacked: a batch moves between processes in one piece.

    Attributes:
        names: The indicators, in the order of ``values``' columns.
        series: The recent series, in the order of ``recent``'s rows.
        keys: Each frame's key.
        closes: Each frame's close.
        values: Each frame's latest values, rounded as a frame rounds them (NaN: none).
        recent: Each frame's recent series (frames x series x bars), rounded alike.
    """

    names: tuple[str, ...]
    series: tuple[str, ...]
    keys: list[FrameKey]
    closes: np.ndarray
    values: np.ndarray
    recent: np.ndarray
