"""What the market data service needs from a source of candles (exchange or replay)."""

from datetime import datetime
from typing import Protocol

from app.exchange.types import Kline, PremiumIndex


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
