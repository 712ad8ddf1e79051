"""Market data endpoints of the client against the fake exchange."""

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from app.exchange.errors import ExchangeRejected
from app.exchange.http.client import AsterdexClient
from tests.fakes.asterdex import FakeAsterdex


async def test_clock_offset_is_measured(client: AsterdexClient, fake: FakeAsterdex) -> None:
    fake.clock_skew_ms = 42_000

    offset = await client.sync_time()

    assert abs(offset - 42_000) < 1_000


async def test_exchange_info_gives_each_symbols_filters(client: AsterdexClient) -> None:
    filters = await client.exchange_info()

    btc = filters["BTCUSDT"]
    assert btc.tick_size == Decimal("0.1")
    assert btc.step_size == Decimal("0.001")
    assert btc.market_max_qty == Decimal(120)
    assert btc.min_notional == Decimal(5)
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= set(filters)
    assert any(limit["rateLimitType"] == "REQUEST_WEIGHT" for limit in client.rate_limits)


async def test_unknown_symbol_is_refused(client: AsterdexClient) -> None:
    with pytest.raises(ExchangeRejected) as caught:
        await client.symbol_filters("DOGEUSDT")

    assert caught.value.exchange_code == -1121


async def test_klines_backfill_pages_past_1500_bars(client: AsterdexClient) -> None:
    latest = await client.klines("BTCUSDT", "1h", limit=3)
    start = latest[-1].open_time - timedelta(hours=2100)

    candles = await client.klines_range("BTCUSDT", "1h", start=start)

    closed = [c for c in candles if c.closed]
    assert len(candles) >= 2100
    assert candles[0].open_time == start
    steps = {b.open_time - a.open_time for a, b in pairwise(candles)}
    assert steps == {timedelta(hours=1)}  # contiguous, no duplicates across pages
    assert closed == candles[: len(closed)]  # only the last can still be forming
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)


async def test_the_forming_bar_is_not_closed(client: AsterdexClient) -> None:
    candles = await client.klines("ETHUSDT", "1h", limit=5)

    assert [c.closed for c in candles][:-1] == [True] * 4
    assert candles[-1].closed is False


async def test_premium_index_funding_ticker_and_book(client: AsterdexClient) -> None:
    premium = await client.premium_index("BTCUSDT")
    rates = await client.funding_rates("BTCUSDT", limit=10)
    ticker = await client.ticker_24h("BTCUSDT")
    book = await client.order_book("BTCUSDT", limit=5)

    assert premium.mark_price > 0
    assert premium.next_funding_time > premium.time
    assert len(rates) == 10
    assert all(a.time < b.time for a, b in pairwise(rates))
    assert ticker.high_price >= ticker.low_price
    assert book.bids
    assert book.asks
    assert book.bids[0][0] < book.asks[0][0]


async def test_weight_used_is_tracked(client: AsterdexClient) -> None:
    await client.klines("BTCUSDT", "1h", limit=1000)

    assert client.transport.used_weight >= 5
