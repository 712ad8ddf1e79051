"""Each fault of the exchange leaves the client, and the exchange, in the right state."""

from decimal import Decimal

import pytest

from app.exchange.errors import ExchangeTemporaryError, RateLimited
from app.exchange.http.client import AsterdexClient
from app.exchange.types import OrderRequest, OrderStatus, OrderType, Side
from tests.fakes.asterdex import FakeAsterdex, Fault

from .conftest import API_KEY

ORDER = "POST /fapi/v1/order"


def buy(client_id: str) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, client_id, quantity=Decimal("0.01"))


def orders_with(fake: FakeAsterdex, client_id: str) -> int:
    return sum(o.client_order_id == client_id for o in fake.account(API_KEY).orders)


async def test_timeout_after_the_order_was_accepted_leaves_exactly_one_order(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    # The client times out after 2 s; the fake answers after 3 s, order already placed.
    fake.inject(Fault(ORDER, "timeout_after_accept", latency_s=3.0))

    order = await client.place_order(buy("ta-timeout-1"))

    assert order.client_order_id == "ta-timeout-1"
    assert order.status is OrderStatus.FILLED
    assert orders_with(fake, "ta-timeout-1") == 1


@pytest.mark.parametrize("kind", ["http_503", "http_500", "disconnect"])
async def test_order_lost_before_the_exchange_is_sent_again_once(
    client: AsterdexClient, fake: FakeAsterdex, kind: str
) -> None:
    fake.inject(Fault(ORDER, kind))  # type: ignore[arg-type]

    order = await client.place_order(buy(f"ta-{kind}"))

    assert order.status is OrderStatus.FILLED
    assert orders_with(fake, f"ta-{kind}") == 1
    sends = [r for r in fake.requests if (r.method, r.path) == ("POST", "/fapi/v1/order")]
    assert len(sends) == 2  # one lost, one placed: never three


async def test_malformed_reply_to_an_order_is_resolved_by_client_id(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    fake.inject(Fault(ORDER, "malformed_body"))

    order = await client.place_order(buy("ta-malformed-1"))

    assert order.client_order_id == "ta-malformed-1"
    assert orders_with(fake, "ta-malformed-1") == 1


async def test_invalid_timestamp_resyncs_and_places_once(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    fake.inject(Fault(ORDER, "invalid_timestamp"))

    order = await client.place_order(buy("ta-1021"))

    assert order.status is OrderStatus.FILLED
    assert orders_with(fake, "ta-1021") == 1
    assert any(r.path == "/fapi/v1/time" for r in fake.requests)


async def test_clock_skew_is_corrected(client: AsterdexClient, fake: FakeAsterdex) -> None:
    fake.clock_skew_ms = 20_000  # the exchange's clock runs 20 s ahead of ours

    balances = await client.balances()

    assert balances
    assert abs(client.transport.clock_offset_ms - 20_000) < 1_000


async def test_5xx_and_latency_on_reads_are_retried(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    fake.inject(Fault("GET /fapi/v1/klines", "http_502", times=2))
    fake.inject(Fault("GET /fapi/v2/balance", "latency", latency_s=0.3))

    candles = await client.klines("BTCUSDT", "1h", limit=10)
    balances = await client.balances()

    assert len(candles) == 10
    assert balances


async def test_reads_give_up_after_the_retry_budget(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    fake.inject(Fault("GET /fapi/v1/klines", "http_500", times=-1))

    with pytest.raises(ExchangeTemporaryError):
        await client.klines("BTCUSDT", "1h", limit=10)

    assert sum(r.path == "/fapi/v1/klines" for r in fake.requests) == 3


async def test_429_with_retry_after_is_honoured(client: AsterdexClient, fake: FakeAsterdex) -> None:
    fake.inject(Fault("GET /fapi/v1/klines", "http_429", retry_after_s=1))

    candles = await client.klines("BTCUSDT", "1h", limit=5)

    assert len(candles) == 5


async def test_418_ban_stops_all_sending_until_it_ends(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    fake.inject(Fault("GET /fapi/v1/klines", "http_418", retry_after_s=120))

    with pytest.raises(RateLimited) as banned:
        await client.klines("BTCUSDT", "1h", limit=5)
    sent = len(fake.requests)
    with pytest.raises(RateLimited):
        await client.place_order(buy("ta-banned"))

    assert banned.value.banned
    assert len(fake.requests) == sent  # nothing was sent during the ban
    assert orders_with(fake, "ta-banned") == 0
