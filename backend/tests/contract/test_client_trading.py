"""Trading and account endpoints of the client against the fake exchange."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from app.exchange.errors import (
    ExchangeAuthError,
    FilterViolation,
    InsufficientFunds,
    OrderRejected,
)
from app.exchange.http.client import AsterdexClient, BatchItemError
from app.exchange.types import (
    MarginType,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    WorkingType,
)
from tests.fakes.asterdex import FakeAsterdex, Fault, FaultKind
from tests.fakes.clock import ManualClock
from tests.waiting import until

from .conftest import API_KEY, RECV_WINDOW_MS


def market(client_id: str, side: Side = Side.BUY, qty: str = "0.010") -> OrderRequest:
    return OrderRequest("BTCUSDT", side, OrderType.MARKET, client_id, quantity=Decimal(qty))


async def test_market_order_fills_opens_a_position_and_charges_the_taker_fee(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    order = await client.place_order(market("ta-mkt-1"))

    assert order.status is OrderStatus.FILLED
    assert order.executed_qty == Decimal("0.010")
    (position,) = await client.positions("BTCUSDT")
    assert position.amount == Decimal("0.010")
    assert position.entry_price == order.avg_price
    (trade,) = await client.user_trades("BTCUSDT")
    assert trade.commission == (order.avg_price * Decimal("0.010") * Decimal("0.00035"))
    assert fake.account(API_KEY).balance == Decimal(10_000) - trade.commission
    account = await client.account()
    assert account.total_wallet_balance == Decimal(10_000) - trade.commission
    assert [p.symbol for p in account.positions] == ["BTCUSDT"]


async def test_limit_order_rests_can_be_queried_and_cancelled(client: AsterdexClient) -> None:
    mark = await client.mark_price("BTCUSDT")
    filters = await client.symbol_filters("BTCUSDT")
    order = filters.prepare(
        OrderRequest(
            "BTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            "ta-lim-1",
            quantity=Decimal("0.01"),
            price=mark * Decimal("0.97"),
            time_in_force=TimeInForce.GTC,
        ),
        mark_price=mark,
    )

    placed = await client.place_order(order)
    queried = await client.query_order("BTCUSDT", client_order_id="ta-lim-1")
    open_orders = await client.open_orders("BTCUSDT")
    cancelled = await client.cancel_order("BTCUSDT", client_order_id="ta-lim-1")

    assert placed.status is OrderStatus.NEW
    assert queried.order_id == placed.order_id
    assert [o.client_order_id for o in open_orders] == ["ta-lim-1"]
    assert cancelled.status is OrderStatus.CANCELED
    with pytest.raises(OrderRejected) as again:
        await client.cancel_order("BTCUSDT", client_order_id="ta-lim-1")
    assert again.value.exchange_code == -2011
    assert await client.find_order("BTCUSDT", "never-placed") is None


async def test_refusals_carry_the_exchange_code(client: AsterdexClient) -> None:
    with pytest.raises(OrderRejected) as reduce_only:
        await client.place_order(
            OrderRequest(
                "BTCUSDT",
                Side.SELL,
                OrderType.MARKET,
                "ta-ro-1",
                quantity=Decimal("0.010"),
                reduce_only=True,
            )
        )
    with pytest.raises(InsufficientFunds):
        await client.place_order(market("ta-big-1", qty="100"))
    with pytest.raises(FilterViolation):
        await client.place_order(market("bad id with spaces"))

    assert reduce_only.value.exchange_code == -2022


async def test_the_same_client_id_is_never_placed_twice(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    first = await client.place_order(market("ta-dup-1"))
    second = await client.place_order(market("ta-dup-1"))

    assert second.order_id == first.order_id
    assert [o.client_order_id for o in fake.account(API_KEY).orders] == ["ta-dup-1"]


async def test_batch_orders_report_each_order(client: AsterdexClient) -> None:
    results = await client.place_batch(
        [
            market("ta-b-1"),
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-b-2", quantity=Decimal(500)),
            market("ta-b-3", side=Side.SELL),
        ]
    )

    first, second, third = results
    assert not isinstance(first, BatchItemError)
    assert first.status is OrderStatus.FILLED
    assert isinstance(second, BatchItemError)
    assert second.error.exchange_code is not None
    assert not isinstance(third, BatchItemError)


async def test_account_settings_and_benign_no_change_codes(client: AsterdexClient) -> None:
    assert await client.set_leverage("BTCUSDT", 5) == 5
    assert await client.set_margin_type("BTCUSDT", MarginType.ISOLATED) is True
    assert await client.set_margin_type("BTCUSDT", MarginType.ISOLATED) is False
    assert await client.set_position_mode(hedge=False) is False
    assert await client.position_mode_is_hedge() is False
    balances = await client.balances()
    assert [b.asset for b in balances] == ["USDT"]
    assert balances[0].balance == Decimal(10_000)


async def test_listen_key_lifecycle(client: AsterdexClient) -> None:
    key = await client.new_listen_key()

    assert await client.new_listen_key() == key  # the active key is returned again
    await client.keepalive_listen_key(key)
    await client.close_listen_key(key)


async def test_a_wrong_secret_is_an_auth_error(fake: FakeAsterdex) -> None:
    from pydantic import SecretStr

    from app.exchange.http.auth import HmacSigner

    signer = HmacSigner(SecretStr(API_KEY), SecretStr("not-the-secret"))
    async with AsterdexClient(base_url=fake.base_url, signer=signer) as wrong:
        with pytest.raises(ExchangeAuthError) as caught:
            await wrong.account()

    assert caught.value.exchange_code == -1022
    assert "not-the-secret" not in str(caught.value)


async def test_stop_market_triggers_on_a_later_candle(
    manual_client: AsterdexClient, manual_fake: FakeAsterdex, manual_clock: ManualClock
) -> None:
    client = manual_client
    entry = await client.place_order(market("ta-sl-entry"))
    candles = await client.klines("BTCUSDT", "1h", start=manual_clock.now(), limit=500)
    assert candles == [] or not candles[0].closed
    # The stop sits just under the entry: find the first later bar whose low reaches it.
    filters = await client.symbol_filters("BTCUSDT")
    stop_price = filters.round_price(entry.avg_price * Decimal("0.995"))
    stop = await client.place_order(
        OrderRequest(
            "BTCUSDT",
            Side.SELL,
            OrderType.STOP_MARKET,
            "ta-sl-stop",
            stop_price=stop_price,
            close_position=True,
            working_type=WorkingType.MARK_PRICE,
        )
    )
    assert stop.status is OrderStatus.NEW

    for _ in range(500):
        manual_clock.advance(timedelta(hours=1))
        await manual_fake.process()
        if not await client.positions("BTCUSDT"):
            break

    done = await client.query_order("BTCUSDT", client_order_id="ta-sl-stop")
    assert done.status is OrderStatus.FILLED
    assert done.executed_qty == Decimal("0.010")
    assert await client.positions("BTCUSDT") == []
    trades = await client.user_trades("BTCUSDT", start=manual_clock.now() - timedelta(days=6))
    assert trades[-1].realized_pnl != 0


async def test_v3_account_trades_through_the_v3_paths(
    v3_client: AsterdexClient, fake: FakeAsterdex
) -> None:
    order = await v3_client.place_order(market("ta-v3-1"))
    account = await v3_client.account()

    assert order.status is OrderStatus.FILLED
    assert [p.symbol for p in account.positions] == ["BTCUSDT"]
    paths = {r.path for r in fake.requests if r.method == "POST"}
    assert "/fapi/v3/order" in paths
    assert "/fapi/v1/order" not in paths


async def test_cancel_all_income_fees_and_server_time(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    await client.ping()
    server_now = await client.server_time()
    mark = await client.mark_price("ETHUSDT")
    filters = await client.symbol_filters("ETHUSDT")
    for n in range(3):
        await client.place_order(
            filters.prepare(
                OrderRequest(
                    "ETHUSDT",
                    Side.BUY,
                    OrderType.LIMIT,
                    f"ta-ca-{n}",
                    quantity=Decimal("0.05"),
                    price=mark * Decimal("0.96"),
                    time_in_force=TimeInForce.GTC,
                ),
                mark_price=mark,
            )
        )
    await client.place_order(market("ta-inc-1"))

    await client.cancel_all("ETHUSDT")
    income = await client.income(symbol="BTCUSDT")
    maker, taker = await client.commission_rates("BTCUSDT")

    assert abs(server_now.timestamp() - fake.server_time_ms() / 1000) < 5
    assert await client.open_orders("ETHUSDT") == []
    assert {o.status for o in fake.account(API_KEY).orders if o.symbol == "ETHUSDT"} == {"CANCELED"}
    assert [i.income_type for i in income] == ["COMMISSION"]
    assert income[0].income < 0
    assert (maker, taker) == (Decimal("0.0001"), Decimal("0.00035"))


def close_position_stop(client_id: str, stop_price: Decimal) -> OrderRequest:
    return OrderRequest(
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        client_id,
        stop_price=stop_price,
        close_position=True,
        working_type=WorkingType.MARK_PRICE,
    )


@pytest.mark.parametrize("kind", ["http_503", "disconnect", "malformed_body"])
async def test_a_stop_whose_outcome_is_unknown_is_in_place_at_once_and_only_once(
    manual_client: AsterdexClient, manual_fake: FakeAsterdex, kind: FaultKind
) -> None:
    """A close-position stop is harmless twice, so it is not held back for the validity
    window like an entry (a fresh position would wait unprotected); still one stop."""
    client = manual_client
    entry = await client.place_order(market("ta-unk-entry"))
    filters = await client.symbol_filters("BTCUSDT")
    stop_price = filters.round_price(entry.avg_price * Decimal("0.95"))
    manual_fake.inject(Fault("POST /fapi/v1/order", kind))

    async with asyncio.timeout(5):  # the manual clock never moves: any wait would hang
        stop = await client.place_order(close_position_stop("ta-unk-sl", stop_price))

    assert stop.status is OrderStatus.NEW
    working = [o for o in manual_fake.account(API_KEY).open_orders("BTCUSDT")]
    assert [(o.client_order_id, o.type) for o in working] == [("ta-unk-sl", "STOP_MARKET")]


async def test_an_entry_whose_outcome_is_unknown_still_waits_out_the_window(
    manual_client: AsterdexClient, manual_fake: FakeAsterdex, manual_clock: ManualClock
) -> None:
    """An entry sent twice would double the position: it is resent only once the first
    request provably can no longer be accepted."""
    manual_fake.inject(Fault("POST /fapi/v1/order", "http_503"))
    placing = asyncio.ensure_future(manual_client.place_order(market("ta-unk-mkt")))
    await until(lambda: len(manual_fake.requests) >= 2, "the lookup by client id")
    await asyncio.sleep(0)  # the client is now waiting on the clock
    assert not placing.done()
    assert manual_fake.account(API_KEY).orders == []

    manual_clock.advance(timedelta(seconds=RECV_WINDOW_MS / 1000 + 5))
    async with asyncio.timeout(5):
        order = await placing
    assert order.status is OrderStatus.FILLED
    assert [o.client_order_id for o in manual_fake.account(API_KEY).orders] == ["ta-unk-mkt"]
