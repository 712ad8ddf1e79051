"""The exchange as a market data source (live and paper mode)."""

from datetime import datetime

from app.exchange.http.client import AsterdexClient
from app.exchange.types import Kline, PremiumIndex


class ExchangeMarketData:
    """:class:`~app.market_data.ports.MarketDataSource` over the AsterDEX REST client."""

    def __init__(self, client: AsterdexClient) -> None:
        self._client = client

    async def symbols(self) -> set[str]:
        """Symbols currently trading on the exchange."""
        return {s for s, f in (await self._client.exchange_info()).items() if f.status == "TRADING"}

    async def candles(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> list[Kline]:
        """Candles from the klines endpoint, paging past 1,500 bars."""
        return await self._client.klines_range(symbol, interval, start=start, end=end)

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Mark price and funding from ``premiumIndex``."""
        return await self._client.premium_index(symbol)
