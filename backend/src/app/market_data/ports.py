"""The market data ports: a source of candles, a store for them, and the view the loop reads."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from app.exchange.types import Kline, PremiumIndex
from app.indicators.schemas import AssetFeatures
from app.market_data.quality import QualityVerdict


class MarketDataSource(Protocol):
    """Candles, mark prices and the list of tradable symbols.

    Live and paper mode use the exchange; ``--replay`` and backtests use recorded candles.
    """

    async def symbols(self) -> set[str]:
        """Symbols the source can serve (e.g. ``BTCUSDT``)."""
        ...

    async def candles(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> list[Kline]:
        """Candles with ``start <= open_time <= end`` (or up to now), oldest first.

        The last one may still be forming (``closed`` False); callers keep closed ones.
        """
        ...

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Current mark price and funding of ``symbol``."""
        ...


@dataclass(frozen=True, slots=True)
class MarkState:
    """The latest mark price and funding of one symbol."""

    mark_price: Decimal
    funding_rate: Decimal
    next_funding_time: datetime
    time: datetime


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """The indicator snapshot of one closed candle, as stored."""

    symbol: str
    interval: str
    open_time: datetime
    indicator_set: str
    """The indicator configuration's fingerprint."""
    values: dict[str, Any]


class CandleStore(Protocol):
    """Where the market view keeps candles and indicator snapshots beyond its working set.

    :class:`~app.market_data.stores.SqlCandleStore` (the database: the record, and a warm
    start after a restart) or :class:`~app.market_data.stores.MemoryCandleStore` (backtests
    and fast tests).
    """

    async def latest(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The newest ``count`` stored closed candles of the series, oldest first."""
        ...

    async def save(self, candles: Sequence[Kline]) -> int:
        """Store closed candles (those already stored are left alone); how many were new."""
        ...

    async def gaps(self, symbol: str, interval: str) -> list[datetime]:
        """Grid open times missing between the oldest and the newest stored candle."""
        ...

    async def save_indicators(self, snapshots: Sequence[IndicatorValues], at: datetime) -> None:
        """Store (or replace) indicator snapshots of closed candles, computed at ``at``."""
        ...


class MarketView(Protocol):
    """What the agent loop reads of the market: fresh closed candles, marks, features.

    :class:`~app.market_data.service.MarketDataService` implements it over either store.
    """

    async def ensure_fresh(self, symbol: str) -> int:
        """Fetch closed candles newer than the newest held ones; how many were new."""
        ...

    async def refresh(self, symbols: Sequence[str]) -> int:
        """:meth:`ensure_fresh` for several symbols, stored in one write."""
        ...

    async def closed_candles(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The newest ``count`` closed candles, oldest first."""
        ...

    async def refresh_mark(self, symbol: str) -> MarkState:
        """Ask the source for the current mark price and funding."""
        ...

    def mark(self, symbol: str) -> MarkState | None:
        """The latest known mark price and funding of ``symbol``."""
        ...

    async def quality(self, symbol: str) -> QualityVerdict:
        """The data-quality gate for one symbol, across every interval."""
        ...

    async def features(self, symbol: str) -> AssetFeatures:
        """The multi-timeframe feature object of ``symbol``."""
        ...

    async def features_of(self, symbols: Sequence[str]) -> dict[str, AssetFeatures]:
        """:meth:`features` for several symbols, their new snapshots stored in one write."""
        ...
