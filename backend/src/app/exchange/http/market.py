"""Market data endpoints and the cached symbol rules (spec §3.1)."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.core.types import interval_delta
from app.exchange.errors import ExchangeProtocolError, ExchangeRejected
from app.exchange.filters import SymbolFilters
from app.exchange.http import endpoints as ep
from app.exchange.http.base import ClientBase
from app.exchange.http.constants import KLINES_MAX_LIMIT
from app.exchange.http.wire import (
    parse_funding_rate,
    parse_kline,
    parse_order_book,
    parse_premium_index,
    parse_ticker,
    to_ms,
)
from app.exchange.types import FundingRate, Kline, OrderBook, PremiumIndex, Ticker24h

_EXCHANGE_INFO_TTL = timedelta(hours=1)


def _kline_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class MarketDataMixin(ClientBase):
    """Public market data; symbol filters cached from ``exchangeInfo``."""

    async def ping(self) -> None:
        """Raise unless the exchange answers."""
        await self._call(ep.PING)

    async def server_time(self) -> datetime:
        """The exchange's clock."""
        data = await self._call(ep.TIME)
        return datetime.fromtimestamp(int(data["serverTime"]) / 1000, self._clock.now().tzinfo)

    async def exchange_info(self, *, refresh: bool = False) -> dict[str, SymbolFilters]:
        """Every symbol's trading rules, cached for an hour.

        Raises:
            ExchangeProtocolError: A symbol entry lacks its price or lot filter.
        """
        now = self._clock.now()
        fresh = self._filters_at is not None and now - self._filters_at < _EXCHANGE_INFO_TTL
        if self._filters and fresh and not refresh:
            return self._filters
        data = await self._call(ep.EXCHANGE_INFO)
        try:
            filters = {s["symbol"]: SymbolFilters.from_exchange_info(s) for s in data["symbols"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ExchangeProtocolError(f"unexpected exchangeInfo payload: {exc!r}") from exc
        self._filters, self._filters_at = filters, now
        self._rate_limits = list(data.get("rateLimits", []))
        return filters

    async def symbol_filters(self, symbol: str) -> SymbolFilters:
        """One symbol's rules.

        Raises:
            ExchangeRejected: The exchange does not list ``symbol`` (code -1121).
        """
        filters = await self.exchange_info()
        if symbol not in filters:
            filters = await self.exchange_info(refresh=True)
        if symbol not in filters:
            raise ExchangeRejected(f"unknown symbol {symbol}", code=-1121)
        return filters[symbol]

    @property
    def rate_limits(self) -> list[dict[str, Any]]:
        """``rateLimits`` from the last ``exchangeInfo`` (empty before the first call)."""
        return list(self._rate_limits)

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """One page of candles, oldest first; the last may still be forming (``closed``)."""
        return await self._kline_page(ep.KLINES, symbol, interval, start, end, limit)

    async def mark_price_klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """One page of mark-price candles, oldest first (volume fields carry no meaning)."""
        return await self._kline_page(ep.MARK_PRICE_KLINES, symbol, interval, start, end, limit)

    async def _kline_page(
        self,
        endpoint: ep.Endpoint,
        symbol: str,
        interval: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Kline]:
        if not 0 < limit <= KLINES_MAX_LIMIT:
            raise ValueError(f"limit must be 1..{KLINES_MAX_LIMIT}, not {limit}")
        params = [("symbol", symbol), ("interval", interval)]
        if start is not None:
            params.append(("startTime", str(to_ms(start))))
        if end is not None:
            params.append(("endTime", str(to_ms(end))))
        params.append(("limit", str(limit)))
        data = await self._call(endpoint, params, weight=_kline_weight(limit))
        now_ms = self._http.now_ms()
        return [parse_kline(symbol, interval, row, now_ms) for row in data]

    async def iter_klines(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> AsyncIterator[list[Kline]]:
        """Pages of candles from ``start`` to ``end`` (or now), beyond the 1,500-bar page."""
        step = interval_delta(interval)
        cursor = start
        while end is None or cursor <= end:
            page = await self.klines(
                symbol, interval, start=cursor, end=end, limit=KLINES_MAX_LIMIT
            )
            if not page:
                return
            yield page
            if len(page) < KLINES_MAX_LIMIT or not page[-1].closed:
                return
            cursor = page[-1].open_time + step

    async def klines_range(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> list[Kline]:
        """All candles from ``start`` to ``end`` (or now), paging as needed."""
        candles: list[Kline] = []
        async for page in self.iter_klines(symbol, interval, start=start, end=end):
            candles.extend(page)
        return candles

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Mark price, index price and funding of ``symbol``."""
        return parse_premium_index(await self._call(ep.PREMIUM_INDEX, [("symbol", symbol)]))

    async def funding_rates(
        self,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[FundingRate]:
        """Settled funding rates, oldest first."""
        params = [("symbol", symbol)]
        if start is not None:
            params.append(("startTime", str(to_ms(start))))
        if end is not None:
            params.append(("endTime", str(to_ms(end))))
        params.append(("limit", str(limit)))
        return [parse_funding_rate(row) for row in await self._call(ep.FUNDING_RATE, params)]

    async def ticker_24h(self, symbol: str) -> Ticker24h:
        """24-hour statistics of ``symbol``."""
        return parse_ticker(await self._call(ep.TICKER_24H, [("symbol", symbol)]))

    async def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        """Order book snapshot with ``limit`` levels per side."""
        weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        data = await self._call(
            ep.DEPTH, [("symbol", symbol), ("limit", str(limit))], weight=weight
        )
        return parse_order_book(data)

    async def mark_price(self, symbol: str) -> Decimal:
        """Current mark price of ``symbol``."""
        return (await self.premium_index(symbol)).mark_price
