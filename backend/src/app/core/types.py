"""Small shared value types and vocabularies used across domains."""

import functools
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, NewType

AccountId = NewType("AccountId", str)
"""Identifier of one trading account (``default`` in single-account mode)."""

DEFAULT_ACCOUNT_ID: Final = AccountId("default")


class TradingMode(StrEnum):
    """How an account trades: simulated fills on real prices, or real orders."""

    PAPER = "paper"
    LIVE = "live"


class Environment(StrEnum):
    """Deployment environment; production tightens what configuration is accepted."""

    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class UnmanagedPositionPolicy(StrEnum):
    """What live startup does with an open position the service did not open itself."""

    ADOPT = "adopt"
    """Protect it with a stop and manage it like the agent's own positions."""
    FLATTEN = "flatten"
    """Close it."""


class EntryOrderType(StrEnum):
    """How the agent enters a position."""

    MARKET = "MARKET"
    """A market order: filled at once at the best available prices."""
    LIMIT = "LIMIT"
    """A good-till-cancelled limit order at the current price: may rest unfilled."""


# The kline intervals AsterDEX accepts (specs/asterdex-futures-api.md, "Klines"), mapped to
# their length in milliseconds. "1M" (a calendar month) has no fixed length; 30 days is only
# used for scheduling estimates, never for candle alignment.
KLINE_INTERVALS_MS: Final[dict[str, int]] = {
    "1m": 60_000,
    "3m": 3 * 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "1h": 3_600_000,
    "2h": 2 * 3_600_000,
    "4h": 4 * 3_600_000,
    "6h": 6 * 3_600_000,
    "8h": 8 * 3_600_000,
    "12h": 12 * 3_600_000,
    "1d": 86_400_000,
    "3d": 3 * 86_400_000,
    "1w": 7 * 86_400_000,
    "1M": 30 * 86_400_000,
}


_INTERVAL_DELTAS: Final = {
    name: timedelta(milliseconds=ms) for name, ms in KLINE_INTERVALS_MS.items()
}


def interval_delta(interval: str) -> timedelta:
    """The length of one bar of a kline interval (``1M`` counts 30 days).

    Raises:
        KeyError: ``interval`` is not a kline interval.
    """
    return _INTERVAL_DELTAS[interval]


@functools.lru_cache(maxsize=256)  # every series of every cycle asks at the same instant
def last_closed_open(now: datetime, interval: str) -> datetime:
    """Open time of the newest candle that has closed by ``now``."""
    length_ms = KLINE_INTERVALS_MS[interval]
    now_ms = int(now.timestamp() * 1000)
    return datetime.fromtimestamp((now_ms // length_ms * length_ms - length_ms) / 1000, now.tzinfo)
