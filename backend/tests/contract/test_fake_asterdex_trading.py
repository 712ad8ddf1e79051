"""Self-tests of the fake AsterDEX server: orders, fills, triggers, account settings, funding.

Requests are built by hand (see ``fake_helpers``), so these tests pin the wire protocol itself.
"""

import json
from decimal import Decimal

from websockets.asyncio.client import connect

from tests.contract.fake_helpers import (
    API_KEY,
    BAR0,
    HOUR,
    Exchange,
    MakeExchange,
    code_of,
    next_event,
)

# -- orders ------------------------------------------------------------------------------------


async def test_order_filters(ex: Exchange) -> None:
    async def code(**params: str) -> int:
        response = await ex.order(**params)
        assert response.status_code == 400, response.text
        return int(response.json()["code"])

    market = {"side": "BUY", "type": "MARKET"}
    limit = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    assert await code(**market, quantity="0.0005") == -1111
    assert await code(**market, quantity="121") == -4005  # MARKET_LOT_SIZE
    assert await code(**limit, quantity="1001", price="99000") == -4005  # LOT_SIZE
    assert await code(**limit, quantity="0.01", price="99000.05") == -4014
    assert await code(**limit, quantity="0.01", price="105001") == -4016
    assert await code(**limit, quantity="0.01", price="99000", newClientOrderId="x" * 37) == -4015
    assert await code(**limit, quantity="0.01", price="99000", newClientOrderId="a b") == -4015
    assert await code(side="BUY", type="LIMIT", quantity="0.01", price="99000") == -1102
    assert await code(**market) == -1102
    assert await code(**market, quantity="0.01", symbol="XYZUSDT") == -1121
    assert await code(**market, quantity="0.01", symbol="SOLUSDT") == -4164  # 1.5 USDT
    test = {"symbol": "TESTUSDT"}  # tick 0.5, step 0.5, one decimal allowed
    assert await code(**market, **test, quantity="1.2") == -4023
    assert await code(**market, **test, quantity="1.25") == -1111
    assert await code(**market, **test, quantity="0") == -4003
    assert await code(**market, **test, quantity="0.4") == -4004
    assert await code(**limit, **test, quantity="1.0", price="10.2") == -4014
    assert await code(**limit, **test, quantity="1.0", price="10.25") == -1111


async def test_market_order_fills_with_taker_fee(ex: Exchange) -> None:
    ack = await ex.order(side="BUY", type="MARKET", quantity="0.010", newClientOrderId="m-1")
    assert ack.status_code == 200
    assert ack.json()["status"] == "NEW"  # ACK: the state at acceptance
    assert ack.headers["X-MBX-ORDER-COUNT-1M"] == "1"
    result = await ex.order(side="BUY", type="MARKET", quantity="0.010", newOrderRespType="RESULT")
    body = result.json()
    assert (body["status"], body["executedQty"], body["avgPrice"]) == (
        "FILLED",
        "0.010",
        "100000.00000",
    )
    account = ex.fake.account(API_KEY)
    position = account.positions["BTCUSDT"]
    assert (position.amount, position.entry_price) == (Decimal("0.020"), Decimal(100000))
    assert account.balance == Decimal("10000") - 2 * Decimal("0.35")
    trades = (await ex.signed("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})).json()
    assert [(t["price"], t["qty"], t["commission"], t["maker"]) for t in trades] == [
        ("100000", "0.010", "0.35", False)
    ] * 2
    queried = await ex.signed(
        "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "m-1"}
    )
    assert queried.json()["status"] == "FILLED"
    assert queried.json()["clientOrderId"] == "m-1"
    risk = (await ex.signed("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})).json()
    assert risk[0]["positionAmt"] == "0.020"
    assert risk[0]["marginType"] == "cross"
    balance = (await ex.signed("GET", "/fapi/v2/balance")).json()
    assert balance[0]["balance"] == "9999.3"
    income = (await ex.signed("GET", "/fapi/v1/income", {"incomeType": "COMMISSION"})).json()
    assert [row["income"] for row in income] == ["-0.35", "-0.35"]


async def test_slippage_moves_the_fill_against_the_taker(make_exchange: MakeExchange) -> None:
    ex = await make_exchange(slippage_bps=Decimal("5"))
    await ex.order(side="SELL", type="MARKET", quantity="0.010")
    assert ex.fake.account(API_KEY).trades[0].price == Decimal("99950.0")


async def test_limit_order_rests_then_fills_as_maker(ex: Exchange) -> None:
    placed = await ex.order(
        side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price="99200"
    )
    assert placed.json()["status"] == "NEW"
    open_orders = (await ex.signed("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})).json()
    assert [o["price"] for o in open_orders] == ["99200.0"]
    await ex.advance(hours=1)  # bar 10 closes with a low of 99000
    trade = ex.fake.account(API_KEY).trades[0]
    assert (trade.price, trade.maker, trade.commission) == (
        Decimal(99200),
        True,
        Decimal("0.0992"),
    )
    assert trade.time == BAR0 + 11 * HOUR


async def test_volume_share_leaves_limit_orders_partially_filled(
    make_exchange: MakeExchange,
) -> None:
    ex = await make_exchange(fill_volume_share=Decimal("0.001"))  # 5 BTC bars: 0.005 per bar
    await ex.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price="99200")
    order = ex.fake.account(API_KEY).orders[0]
    await ex.advance(hours=1)
    assert (order.status, order.executed_qty) == ("PARTIALLY_FILLED", Decimal("0.005"))
    await ex.advance(hours=1)
    assert (order.status, order.executed_qty) == ("FILLED", Decimal("0.010"))


async def test_trailing_stop_follows_the_price(ex: Exchange) -> None:
    await ex.order(side="BUY", type="MARKET", quantity="0.010")
    trailing = {"side": "SELL", "type": "TRAILING_STOP_MARKET", "quantity": "0.010"}
    assert code_of(await ex.order(**trailing, callbackRate="1", activationPrice="99000")) == (
        400,
        -2021,
    )
    assert (await ex.order(**trailing, callbackRate="1", reduceOnly="true")).status_code == 200
    await ex.advance(hours=1)  # activated at 100000: bar 10's low of 99000 is 1 % below
    assert ex.fake.account(API_KEY).trades[-1].price == Decimal(99000)
    assert ex.fake.account(API_KEY).positions["BTCUSDT"].amount == 0


async def test_stop_market_triggers_on_a_later_bar_and_beats_take_profit(ex: Exchange) -> None:
    await ex.order(side="BUY", type="MARKET", quantity="0.010")
    stop = {"side": "SELL", "type": "STOP_MARKET", "closePosition": "true"}
    take = {"side": "SELL", "type": "TAKE_PROFIT_MARKET", "closePosition": "true"}
    assert (await ex.order(**stop, stopPrice="98000", newClientOrderId="sl")).status_code == 200
    assert (await ex.order(**take, stopPrice="103000", newClientOrderId="tp")).status_code == 200
    assert code_of(await ex.order(**stop, stopPrice="100500")) == (400, -2021)
    await ex.advance(hours=1)  # bar 10: low 99000, high 100500, nothing triggers
    account = ex.fake.account(API_KEY)
    assert [o.status for o in account.orders] == ["FILLED", "NEW", "NEW"]
    await ex.advance(hours=1)  # bar 11 reaches both levels: the stop wins
    assert [o.status for o in account.orders] == ["FILLED", "FILLED", "EXPIRED"]
    fill = account.trades[-1]
    assert (fill.price, fill.qty, fill.realized_pnl, fill.commission) == (
        Decimal(98000),
        Decimal("0.010"),
        Decimal(-20),
        Decimal("0.343"),
    )
    assert account.positions["BTCUSDT"].amount == 0
    assert account.balance == Decimal(10000) - Decimal("0.35") - 20 - Decimal("0.343")


async def test_stop_fills_at_the_open_after_a_gap(ex: Exchange) -> None:
    await ex.order(side="BUY", type="MARKET", quantity="0.010")
    stop = {"side": "SELL", "type": "STOP_MARKET", "quantity": "0.010", "reduceOnly": "true"}
    assert (await ex.order(**stop, stopPrice="96800")).status_code == 200
    await ex.advance(hours=2)  # bars 10 and 11 stay above 96800
    account = ex.fake.account(API_KEY)
    assert account.orders[1].status == "NEW"
    await ex.advance(hours=1)  # bar 12 opens at 96500, below the stop
    assert account.orders[1].status == "FILLED"
    assert account.trades[-1].price == Decimal(96500)


async def test_reduce_only_rules(ex: Exchange) -> None:
    reduce = {"type": "MARKET", "quantity": "0.010", "reduceOnly": "true"}
    assert code_of(await ex.order(side="SELL", **reduce)) == (400, -2022)  # flat
    await ex.order(side="BUY", type="MARKET", quantity="0.010")
    assert code_of(await ex.order(side="BUY", **reduce)) == (400, -2022)  # would grow
    limit = {"type": "LIMIT", "timeInForce": "GTC", "price": "101000", "reduceOnly": "true"}
    resting = await ex.order(side="SELL", quantity="0.010", **limit)
    assert resting.status_code == 200
    closed = await ex.order(side="SELL", type="MARKET", quantity="0.020", reduceOnly="true")
    assert closed.status_code == 200
    account = ex.fake.account(API_KEY)
    assert account.positions["BTCUSDT"].amount == 0  # capped at the position, never flipped
    assert [o.status for o in account.orders[1:]] == ["EXPIRED", "EXPIRED"]
    assert account.orders[2].executed_qty == Decimal("0.010")
    both = await ex.order(
        side="SELL", type="STOP_MARKET", stopPrice="90000", closePosition="true", quantity="1"
    )
    assert code_of(both) == (400, -4137)


async def test_duplicate_client_order_id_among_open_orders(ex: Exchange) -> None:
    limit = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010"}
    assert (await ex.order(**limit, price="95000", newClientOrderId="dup")).status_code == 200
    assert code_of(await ex.order(**limit, price="95100", newClientOrderId="dup")) == (400, -4116)
    assert (
        await ex.order(side="BUY", type="MARKET", quantity="0.010", newClientOrderId="m")
    ).is_success
    assert (
        await ex.order(side="BUY", type="MARKET", quantity="0.010", newClientOrderId="m")
    ).is_success
    cancel = await ex.signed(
        "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "dup"}
    )
    assert cancel.json()["status"] == "CANCELED"
    again = await ex.signed(
        "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "dup"}
    )
    assert code_of(again) == (400, -2011)
    unknown = await ex.signed("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "1"})
    assert code_of(unknown) == (400, -2013)
    gone = await ex.signed(
        "GET", "/fapi/v1/openOrder", {"symbol": "BTCUSDT", "origClientOrderId": "dup"}
    )
    assert code_of(gone) == (400, -2013)


async def test_margin_batch_and_account_configuration(ex: Exchange) -> None:
    huge = await ex.order(side="BUY", type="MARKET", quantity="2.100")  # 210k / 20 > 10k
    assert code_of(huge) == (400, -2019)
    items = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "95000",
        },
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.010",
            "reduceOnly": "true",
        },
    ]
    batch = await ex.signed(
        "POST",
        "/fapi/v1/batchOrders",
        {"batchOrders": json.dumps(items, separators=(",", ":"))},
        in_body=True,
    )
    assert batch.status_code == 200
    first, second = batch.json()
    assert first["status"] == "NEW"
    assert second == {
        "code": -2022,
        "msg": "ReduceOnly Order is rejected.",
    }
    lev = await ex.signed("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "5"})
    assert lev.json()["leverage"] == 5
    assert code_of(
        await ex.signed("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "126"})
    ) == (400, -4028)
    same = await ex.signed(
        "POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "CROSSED"}
    )
    assert code_of(same) == (400, -4046)
    blocked = await ex.signed(
        "POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "ISOLATED"}
    )
    assert code_of(blocked) == (400, -4047)  # the resting limit order
    cancelled = await ex.signed("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
    assert cancelled.json()["msg"] == "The operation of cancel all open order is done."
    changed = await ex.signed(
        "POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "ISOLATED"}
    )
    assert changed.json() == {"code": 200, "msg": "success"}
    mode = await ex.signed("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "false"})
    assert code_of(mode) == (400, -4059)
    assert (await ex.signed("GET", "/fapi/v1/positionSide/dual")).json() == {
        "dualSidePosition": False
    }
    account = ex.fake.account(API_KEY)
    assert (account.leverage["BTCUSDT"], account.margin_type["BTCUSDT"]) == (5, "ISOLATED")
    info = (await ex.signed("GET", "/fapi/v4/account")).json()
    btc = next(p for p in info["positions"] if p["symbol"] == "BTCUSDT")
    assert (btc["leverage"], btc["isolated"], info["totalWalletBalance"]) == ("5", True, "10000")


async def test_funding_is_charged_to_longs(make_exchange: MakeExchange) -> None:
    funding = {"BTCUSDT": [(BAR0 + 11 * HOUR, Decimal("0.0001"))]}
    ex = await make_exchange(funding_rates=funding)
    premium = (await ex.get("/fapi/v1/premiumIndex", symbol="BTCUSDT")).json()
    assert (premium["nextFundingTime"], premium["lastFundingRate"]) == (
        BAR0 + 11 * HOUR,
        "0.00010000",
    )
    await ex.order(side="BUY", type="MARKET", quantity="0.010")
    key = await ex.listen_key()
    async with connect(f"{ex.fake.ws_url}/ws/{key}") as ws:
        await ex.advance(hours=1)  # funding settles at bar 10's close, mark 99500
        update = await next_event(ws, "ACCOUNT_UPDATE")
    assert update["a"]["m"] == "FUNDING_FEE"
    assert update["a"]["P"] == []
    assert update["a"]["B"][0]["wb"] == str(Decimal(10000) - Decimal("0.35") - Decimal("0.0995"))
    history = (await ex.get("/fapi/v1/fundingRate", symbol="BTCUSDT")).json()
    assert history == [
        {"symbol": "BTCUSDT", "fundingRate": "0.00010000", "fundingTime": BAR0 + 11 * HOUR}
    ]
    income = (await ex.signed("GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"})).json()
    assert [row["income"] for row in income] == ["-0.0995"]
