"""Self-tests of the fake AsterDEX server: it must speak the documented wire protocol.

Requests are built by hand here (raw httpx and websockets, signatures computed in this file), so
these tests pin the protocol itself, not the project's client.
"""

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes.asterdex import FakeAsterdex, FakeCandle, FakeSymbolSpec, Fault, FaultKind
from tests.fakes.clock import ManualClock

HOUR = 3_600_000
START = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)  # 30 s into the bar that opened at 12:00
BAR0 = int(START.timestamp() * 1000) // HOUR * HOUR - 10 * HOUR  # bars 0-9 closed at START
API_KEY = "fake-api-key-0001"
SECRET = "test-secret-0123456789"
JsonObject = dict[str, Any]


def bar(index: int, o: str, h: str, low: str, c: str, volume: str = "5") -> FakeCandle:
    return FakeCandle(
        BAR0 + index * HOUR, Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(volume)
    )


def flat(open_time_ms: int, price: str) -> FakeCandle:
    level = Decimal(price)
    return FakeCandle(open_time_ms, level, level, level, level, Decimal(1))


BTC = [bar(i, "100000", "100100", "99900", "100000") for i in range(10)] + [
    bar(10, "100000", "100500", "99000", "99500"),  # forming at START
    bar(11, "99500", "104000", "97000", "97500"),  # reaches both 98000 and 103000
    bar(12, "96500", "99000", "96000", "98500"),  # gaps down from 97500
    *[bar(i, "98500", "98600", "98400", "98500") for i in range(13, 30)],
]
SOL = [bar(i, "150.000", "151.000", "149.000", "150.000") for i in range(30)]
TEST = [bar(i, "10.0", "10.5", "9.5", "10.0") for i in range(30)]
TEST_SPEC = FakeSymbolSpec(
    symbol="TESTUSDT",
    base_asset="TEST",
    tick_size=Decimal("0.5"),
    step_size=Decimal("0.5"),
    min_qty=Decimal("0.5"),
    max_qty=Decimal("1000"),
    market_max_qty=Decimal("100"),
    price_precision=1,
    quantity_precision=1,
    min_price=Decimal("0.5"),
    max_price=Decimal("1000"),
)
CANDLES = {"BTCUSDT": BTC, "SOLUSDT": SOL, "TESTUSDT": TEST}


def hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def eip712_signature(private_key: bytes, msg: str, chain_id: int = 1666) -> str:
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Message": [{"name": "msg", "type": "string"}],
        },
        "primaryType": "Message",
        "domain": {
            "name": "AsterSignTransaction",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0x" + "00" * 20,
        },
        "message": {"msg": msg},
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key)
    return str(signed.signature.hex()).removeprefix("0x")


def code_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, int(response.json()["code"])


@dataclass
class Exchange:
    """A started fake plus a raw HTTP client that signs requests by hand."""

    fake: FakeAsterdex
    http: httpx.AsyncClient
    clock: ManualClock

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(self.fake.base_url + path, params=params)

    def sign(
        self, params: dict[str, str], *, timestamp: int | None = None, secret: str = SECRET
    ) -> str:
        total = {
            **params,
            "timestamp": str(self.clock.now_ms() if timestamp is None else timestamp),
        }
        encoded = urlencode(total)
        return f"{encoded}&signature={hmac_hex(secret, encoded)}"

    async def signed(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        in_body: bool = False,
        timestamp: int | None = None,
        key: str = API_KEY,
        timeout_s: float = 5.0,
    ) -> httpx.Response:
        wire = self.sign(params or {}, timestamp=timestamp)
        headers = {"X-MBX-APIKEY": key}
        url = self.fake.base_url + path
        if in_body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return await self.http.request(
                method, url, content=wire, headers=headers, timeout=timeout_s
            )
        return await self.http.request(method, f"{url}?{wire}", headers=headers, timeout=timeout_s)

    async def order(self, **params: str) -> httpx.Response:
        return await self.signed("POST", "/fapi/v1/order", {"symbol": "BTCUSDT", **params})

    async def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))
        await self.fake.process()

    async def listen_key(self) -> str:
        response = await self.http.post(
            self.fake.base_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": API_KEY}
        )
        return str(response.json()["listenKey"])


MakeExchange = Callable[..., Awaitable[Exchange]]


@pytest.fixture
async def make_exchange() -> AsyncIterator[MakeExchange]:
    started: list[FakeAsterdex] = []
    async with httpx.AsyncClient() as http:

        async def make(**overrides: Any) -> Exchange:
            clock = overrides.pop("clock", None) or ManualClock(START)
            options: dict[str, Any] = {
                "candles": CANDLES,
                "symbol_specs": {"TESTUSDT": TEST_SPEC},
                **overrides,
            }
            fake = FakeAsterdex(clock=clock, **options)
            await fake.start()
            started.append(fake)
            fake.add_hmac_account(API_KEY, SECRET)
            return Exchange(fake, http, clock)

        yield make
        for fake in started:
            await fake.stop()


@pytest.fixture
async def ex(make_exchange: MakeExchange) -> Exchange:
    return await make_exchange()


async def next_json(ws: ClientConnection, wait_s: float = 2.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def next_event(ws: ClientConnection, kind: str) -> JsonObject:
    while True:
        message = await next_json(ws)
        if message.get("e") == kind:
            return dict(message)


# -- signing -----------------------------------------------------------------------------------


async def test_hmac_vectors_of_the_spec_are_accepted(make_exchange: MakeExchange) -> None:
    doc_secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    doc_time = 1591702613943
    epochs = [doc_time // HOUR * HOUR + i * HOUR for i in range(-3, 3)]
    ours = 1700000000000 // HOUR * HOUR
    candles = [flat(t, "9500") for t in epochs] + [
        flat(ours + i * HOUR, "36000") for i in (-2, -1, 0)
    ]
    clock = ManualClock(datetime(2020, 6, 9, 11, 36, 53, 943_000, tzinfo=UTC))
    assert clock.now_ms() == doc_time
    ex = await make_exchange(clock=clock, candles={"BTCUSDT": candles})
    doc_key = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
    ex.fake.add_hmac_account(doc_key, doc_secret)
    headers = {"X-MBX-APIKEY": doc_key}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    message = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    doc_digest = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    url = ex.fake.base_url + "/fapi/v1/order"
    in_query = await ex.http.post(f"{url}?{message}&signature={doc_digest}", headers=headers)
    in_body = await ex.http.post(
        url, content=f"{message}&signature={doc_digest.upper()}", headers={**headers, **form}
    )
    mixed = await ex.http.post(
        f"{url}?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
        content="quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943&signature="
        "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4",
        headers={**headers, **form},
    )
    wrong = await ex.http.post(f"{url}?{message}&signature={doc_digest[:-1]}0", headers=headers)
    assert [r.status_code for r in (in_query, in_body, mixed)] == [200, 200, 200]
    assert in_query.json()["status"] == "NEW"
    assert code_of(wrong) == (400, -1022)
    # Our own vector: a market order at 2023-11-14T22:13:20Z.
    ex.clock.set(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))
    ours_message = (
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&recvWindow=5000&timestamp=1700000000000"
    )
    ours_digest = "6c031d3f4880034db350323957561aaa6d304f486458a733252d8c6708f2fc70"
    assert hmac_hex(SECRET, ours_message) == ours_digest
    filled = await ex.http.post(
        f"{url}?{ours_message}&signature={ours_digest}", headers={"X-MBX-APIKEY": API_KEY}
    )
    assert filled.status_code == 200, filled.text
    assert ex.fake.account(API_KEY).positions["BTCUSDT"].amount == Decimal("0.010")


async def test_timestamp_rule_and_recv_window(ex: Exchange) -> None:
    now = ex.clock.now_ms()

    async def status(timestamp: int, **extra: str) -> int:
        response = await ex.signed("GET", "/fapi/v2/balance", extra, timestamp=timestamp)
        return response.status_code if response.status_code == 200 else code_of(response)[1]

    assert await status(now - 5000) == 200
    assert await status(now - 5001) == -1021
    assert await status(now + 999) == 200
    assert await status(now + 1000) == -1021
    assert await status(now - 59_000, recvWindow="60000") == 200
    assert await status(now, recvWindow="60001") == -1130
    ex.fake.clock_skew_ms = 3000  # server ahead: still inside the 5 s window
    assert await status(now) == 200
    ex.fake.clock_skew_ms = -1500  # server behind: the request looks 1.5 s early
    response = await ex.signed("GET", "/fapi/v2/balance", timestamp=now)
    assert code_of(response) == (400, -1021)
    assert "ahead" in response.json()["msg"]


async def test_auth_errors(ex: Exchange) -> None:
    url = ex.fake.base_url + "/fapi/v2/balance"
    wire = ex.sign({})
    assert code_of(await ex.http.get(f"{url}?{wire}")) == (401, -2014)
    assert code_of(await ex.http.get(f"{url}?{wire}", headers={"X-MBX-APIKEY": "nope"})) == (
        401,
        -2015,
    )
    headers = {"X-MBX-APIKEY": API_KEY}
    no_signature = f"timestamp={ex.clock.now_ms()}"
    assert code_of(await ex.http.get(f"{url}?{no_signature}", headers=headers)) == (400, -1102)
    unsigned = "recvWindow=5000"
    no_timestamp = f"{unsigned}&signature={hmac_hex(SECRET, unsigned)}"
    assert code_of(await ex.http.get(f"{url}?{no_timestamp}", headers=headers)) == (400, -1102)
    reordered = f"signature={hmac_hex(SECRET, no_signature)}&{no_signature}"
    assert code_of(await ex.http.get(f"{url}?{reordered}", headers=headers)) == (400, -1022)
    bad_secret = f"{no_signature}&signature={hmac_hex('other', no_signature)}"
    assert code_of(await ex.http.get(f"{url}?{bad_secret}", headers=headers)) == (400, -1022)
    upper = f"{no_signature}&signature={hmac_hex(SECRET, no_signature).upper()}"
    assert (await ex.http.get(f"{url}?{upper}", headers=headers)).status_code == 200


# -- market data -------------------------------------------------------------------------------


async def test_market_data_and_weight_header(ex: Exchange) -> None:
    assert (await ex.get("/fapi/v1/ping")).json() == {}
    time_response = await ex.get("/fapi/v1/time")
    assert time_response.json() == {"serverTime": ex.clock.now_ms()}
    assert time_response.headers["X-MBX-USED-WEIGHT-1M"] == "2"  # ping 1 + time 1
    info = (await ex.get("/fapi/v1/exchangeInfo")).json()
    assert {(r["rateLimitType"], r["intervalNum"], r["limit"]) for r in info["rateLimits"]} == {
        ("REQUEST_WEIGHT", 1, 2400),
        ("ORDERS", 1, 1200),
        ("ORDERS", 10, 300),
    }
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.1"
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE",
        "minQty": "0.001",
        "maxQty": "1000",
        "stepSize": "0.001",
    }
    assert filters["MARKET_LOT_SIZE"]["maxQty"] == "120"
    assert filters["MIN_NOTIONAL"]["notional"] == "5"
    assert filters["PERCENT_PRICE"]["multiplierUp"] == "1.0500"
    assert filters["MAX_NUM_ALGO_ORDERS"]["limit"] == 10
    assert "STOP_MARKET" in btc["orderTypes"]
    premium = (await ex.get("/fapi/v1/premiumIndex", symbol="BTCUSDT")).json()
    assert premium["markPrice"] == "100000"
    assert (await ex.get("/fapi/v1/ticker/price", symbol="SOLUSDT")).json()["price"] == "150"
    depth = await ex.get("/fapi/v1/depth", symbol="BTCUSDT", limit="5")
    assert depth.json()["bids"][0] == ["99999.9", "0.010"]
    assert depth.json()["asks"][0] == ["100000.0", "0.010"]
    assert code_of(await ex.get("/fapi/v1/depth", symbol="BTCUSDT", limit="7")) == (400, -4021)
    day = (await ex.get("/fapi/v1/ticker/24hr", symbol="BTCUSDT")).json()
    assert day["lastPrice"] == "100000"
    assert code_of(await ex.get("/fapi/v1/premiumIndex", symbol="XYZUSDT")) == (400, -1121)
    # 1+1+1+1+1+2+2+1+1 so far; the 24 h ticker of every symbol weighs 40.
    everything = await ex.get("/fapi/v1/ticker/24hr")
    assert everything.headers["X-MBX-USED-WEIGHT-1M"] == str(11 + 40)
    v3 = await ex.get("/fapi/v3/time")
    assert v3.json() == {"serverTime": ex.clock.now_ms()}


async def test_klines_paging(ex: Exchange) -> None:
    rows = (await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h")).json()
    assert len(rows) == 11  # ten closed bars and the forming one
    assert rows[-1][0] == BAR0 + 10 * HOUR
    assert rows[-1][6] == BAR0 + 11 * HOUR - 1 > ex.clock.now_ms()  # still forming
    assert rows[-2][6] < ex.clock.now_ms()
    assert rows[0][1:6] == ["100000", "100100", "99900", "100000", "5"]
    page = (await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit="3")).json()
    assert [r[0] for r in page] == [BAR0 + i * HOUR for i in (8, 9, 10)]
    forward = await ex.get(
        "/fapi/v1/klines",
        symbol="BTCUSDT",
        interval="1h",
        startTime=str(BAR0 + 2 * HOUR),
        limit="2",
    )
    assert [r[0] for r in forward.json()] == [BAR0 + 2 * HOUR, BAR0 + 3 * HOUR]
    ending = await ex.get(
        "/fapi/v1/klines", symbol="BTCUSDT", interval="1h", endTime=str(BAR0 + 4 * HOUR), limit="2"
    )
    assert [r[0] for r in ending.json()] == [BAR0 + 3 * HOUR, BAR0 + 4 * HOUR]
    two_hours = await ex.get(
        "/fapi/v1/klines", symbol="BTCUSDT", interval="2h", startTime=str(BAR0), limit="1"
    )
    assert two_hours.json()[0][0] == BAR0
    assert two_hours.json()[0][6] == BAR0 + 2 * HOUR - 1
    too_many = await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit="1501")
    assert code_of(too_many) == (400, -1130)
    assert code_of(await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="7m")) == (400, -1120)
    assert code_of(await ex.get("/fapi/v1/klines", symbol="NOPE", interval="1h")) == (400, -1121)
    weight_before = int(too_many.headers["X-MBX-USED-WEIGHT-1M"])
    big = await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit="1001")
    assert int(big.headers["X-MBX-USED-WEIGHT-1M"]) == weight_before + 5 + 5 + 10
    await ex.advance(hours=1)
    rows = (await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit="2")).json()
    assert rows[0][0] == BAR0 + 10 * HOUR
    assert rows[0][4] == "99500"


async def test_default_data_rebased(make_exchange: MakeExchange) -> None:
    ex = await make_exchange(candles=None, symbols=("BTCUSDT",), rebase_to=START)
    rows = (await ex.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", limit="1500")).json()
    assert len(rows) == 301  # 300 closed bars of real history plus the forming bar
    assert rows[-2][6] == int(START.timestamp() * 1000) // HOUR * HOUR - 1
    assert rows[-1][6] > ex.clock.now_ms()
    premium = (await ex.get("/fapi/v1/premiumIndex", symbol="BTCUSDT")).json()
    assert premium["markPrice"] == rows[-2][4]
    assert premium["nextFundingTime"] > ex.clock.now_ms()


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


# -- faults ------------------------------------------------------------------------------------


async def test_http_error_faults_leave_no_order(ex: Exchange) -> None:
    cases: list[tuple[FaultKind, int]] = [("http_500", 500), ("http_502", 502), ("http_503", 503)]
    for kind, status in cases:
        ex.fake.inject(Fault("POST /fapi/v1/order", kind))
        response = await ex.order(side="BUY", type="MARKET", quantity="0.010")
        assert response.status_code == status
    assert ex.fake.account(API_KEY).orders == []
    assert (await ex.order(side="BUY", type="MARKET", quantity="0.010")).status_code == 200


async def test_rate_limit_faults_and_ban(ex: Exchange) -> None:
    ex.fake.inject(Fault("*", "http_429", retry_after_s=7))
    limited = await ex.get("/fapi/v1/time")
    assert code_of(limited) == (429, -1003)
    assert limited.headers["Retry-After"] == "7"
    ex.fake.inject(Fault("GET /fapi/v1/time", "http_418", retry_after_s=60))
    banned = await ex.get("/fapi/v1/time")
    assert code_of(banned) == (418, -1003)
    until = ex.clock.now_ms() + 60_000
    assert f"banned until {until}" in banned.json()["msg"]
    assert banned.headers["Retry-After"] == "60"
    assert (await ex.get("/fapi/v1/ping")).status_code == 418  # every endpoint
    await ex.advance(seconds=61)
    assert (await ex.get("/fapi/v1/ping")).status_code == 200


async def test_latency_timestamp_and_forever_faults(ex: Exchange) -> None:
    ex.fake.inject(Fault("GET /fapi/v1/ping", "latency", latency_s=0.2))
    began = time.perf_counter()
    assert (await ex.get("/fapi/v1/ping")).status_code == 200
    assert time.perf_counter() - began >= 0.2
    ex.fake.inject(Fault("GET /fapi/v2/balance", "invalid_timestamp"))
    assert code_of(await ex.signed("GET", "/fapi/v2/balance")) == (400, -1021)
    assert (await ex.signed("GET", "/fapi/v2/balance")).status_code == 200  # spent
    ex.fake.inject(Fault("GET /fapi/v1/time", "http_500", times=-1))
    for _ in range(3):
        assert (await ex.get("/fapi/v1/time")).status_code == 500
    ex.fake.clear_faults()
    assert (await ex.get("/fapi/v1/time")).status_code == 200


async def test_timeout_after_accept_leaves_the_order_in_place(ex: Exchange) -> None:
    ex.fake.inject(Fault("POST /fapi/v1/order", "timeout_after_accept", latency_s=0.3))
    with pytest.raises(httpx.ReadTimeout):
        await ex.signed(
            "POST",
            "/fapi/v1/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "0.010",
                "newClientOrderId": "agent-1",
            },
            timeout_s=0.1,
        )
    found = await ex.signed(
        "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "agent-1"}
    )
    assert found.json()["status"] == "FILLED"


async def test_malformed_body_and_disconnect(ex: Exchange) -> None:
    ex.fake.inject(Fault("POST /fapi/v1/order", "malformed_body"))
    garbled = await ex.order(side="BUY", type="MARKET", quantity="0.010")
    assert garbled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(garbled.content)
    assert len(ex.fake.account(API_KEY).orders) == 1  # handled before the body was cut
    ex.fake.inject(Fault("POST /fapi/v1/order", "disconnect"))
    with pytest.raises(httpx.RemoteProtocolError):
        await ex.order(side="BUY", type="MARKET", quantity="0.010")
    assert len(ex.fake.account(API_KEY).orders) == 1
    assert ex.fake.requests[-1].status is None
    assert (await ex.order(side="BUY", type="MARKET", quantity="0.010")).status_code == 200


async def test_weight_limit(make_exchange: MakeExchange) -> None:
    ex = await make_exchange(weight_limit_per_minute=3)
    for used in ("1", "2", "3"):
        assert (await ex.get("/fapi/v1/ping")).headers["X-MBX-USED-WEIGHT-1M"] == used
    over = await ex.get("/fapi/v1/ping")
    assert code_of(over) == (429, -1003)
    assert over.headers["X-MBX-USED-WEIGHT-1M"] == "4"
    await ex.advance(seconds=60)
    assert (await ex.get("/fapi/v1/ping")).headers["X-MBX-USED-WEIGHT-1M"] == "1"


# -- streams -----------------------------------------------------------------------------------


async def test_user_data_stream(ex: Exchange) -> None:
    key = await ex.listen_key()
    assert await ex.listen_key() == key  # same key while active
    async with connect(f"{ex.fake.ws_url}/ws/{key}") as ws:
        await ex.order(side="BUY", type="MARKET", quantity="0.010", newClientOrderId="c1")
        new = await next_json(ws)
        account = await next_json(ws)
        trade = await next_json(ws)
    assert (new["e"], new["o"]["x"], new["o"]["X"], new["o"]["c"]) == (
        "ORDER_TRADE_UPDATE",
        "NEW",
        "NEW",
        "c1",
    )
    fill = trade["o"]
    assert (fill["x"], fill["X"], fill["l"], fill["L"], fill["n"], fill["N"]) == (
        "TRADE",
        "FILLED",
        "0.010",
        "100000",
        "0.35",
        "USDT",
    )
    assert isinstance(fill["i"], int)
    assert isinstance(fill["m"], bool)
    assert account["e"] == "ACCOUNT_UPDATE"
    assert account["a"]["m"] == "ORDER"
    assert account["a"]["P"][0] == {
        "s": "BTCUSDT",
        "pa": "0.01",
        "ep": "100000",
        "cr": "0",
        "up": "0",
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
    }
    headers = {"X-MBX-APIKEY": API_KEY}
    url = ex.fake.base_url + "/fapi/v1/listenKey"
    assert (await ex.http.put(url, headers=headers)).json() == {}
    assert (await ex.http.delete(url, headers=headers)).json() == {}
    assert code_of(await ex.http.put(url, headers=headers)) == (400, -1125)
    with pytest.raises(InvalidStatus):
        async with connect(f"{ex.fake.ws_url}/ws/{key}"):
            pass


async def test_user_data_by_subscription_on_a_bare_connection(ex: Exchange) -> None:
    key = await ex.listen_key()
    async with connect(f"{ex.fake.ws_url}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [key], "id": 7}))
        assert await next_json(ws) == {"result": None, "id": 7}
        await ex.order(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price="99000")
        new = await next_event(ws, "ORDER_TRADE_UPDATE")
        await ex.signed("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
        cancelled = await next_event(ws, "ORDER_TRADE_UPDATE")
    assert (new["o"]["X"], new["o"]["b"]) == ("NEW", "990")
    assert (cancelled["o"]["x"], cancelled["o"]["X"]) == ("CANCELED", "CANCELED")
    assert "n" not in cancelled["o"]  # no commission on a non-trade execution


async def test_listen_key_expires_after_an_hour(ex: Exchange) -> None:
    key = await ex.listen_key()
    async with connect(f"{ex.fake.ws_url}/stream?streams={key}") as ws:
        await ex.advance(minutes=61)
        expired = await next_json(ws)
    assert expired == {
        "stream": key,
        "data": {"e": "listenKeyExpired", "E": ex.clock.now_ms() - 60_000, "listenKey": key},
    }
    assert await ex.listen_key() != key


async def test_market_streams_and_control_messages(ex: Exchange) -> None:
    url = f"{ex.fake.ws_url}/stream?streams=btcusdt@kline_1h/btcusdt@markPrice"
    async with connect(url) as combined, connect(f"{ex.fake.ws_url}/ws") as raw:
        await raw.send(json.dumps({"method": "SUBSCRIBE", "params": ["solusdt@kline_1h"], "id": 1}))
        assert await next_json(raw) == {"result": None, "id": 1}
        await raw.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await next_json(raw) == {"result": ["solusdt@kline_1h"], "id": 2}
        await raw.send(json.dumps({"method": "SUBSCRIBE", "params": ["SOLUSDT@kline_1h"], "id": 3}))
        assert (await next_json(raw))["code"] == 2
        await raw.send("not json")
        assert (await next_json(raw))["code"] == 3
        await ex.advance(hours=1)
        kline = await next_json(combined)
        mark = await next_json(combined)
        sol = await next_json(raw)
        await raw.send(
            json.dumps({"method": "UNSUBSCRIBE", "params": ["solusdt@kline_1h"], "id": 4})
        )
        assert await next_json(raw) == {"result": None, "id": 4}
    assert kline["stream"] == "btcusdt@kline_1h"
    k = kline["data"]["k"]
    assert (k["t"], k["T"], k["x"], k["o"], k["c"], k["i"]) == (
        BAR0 + 10 * HOUR,
        BAR0 + 11 * HOUR - 1,
        True,
        "100000",
        "99500",
        "1h",
    )
    assert mark["stream"] == "btcusdt@markPrice"
    assert mark["data"]["p"] == "99500"
    assert sol["e"] == "kline"
    assert sol["k"]["s"] == "SOLUSDT"


async def test_drop_websockets(ex: Exchange) -> None:
    async with connect(f"{ex.fake.ws_url}/ws/btcusdt@kline_1h") as ws:
        await ex.fake.drop_websockets()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)


# -- V3 ----------------------------------------------------------------------------------------


async def test_v3_eip712_signatures_and_nonces(ex: Exchange) -> None:
    signer_key = bytes.fromhex("11" * 32)
    signer = Account.from_key(signer_key).address
    user = "0x" + "ab" * 20
    ex.fake.add_v3_account(user, signer)
    nonce = ex.clock.now_ms() * 1000

    async def call(
        method: str,
        path: str,
        params: dict[str, str],
        *,
        key: bytes = signer_key,
        nonce_us: int | None = None,
        prefix: str = "",
    ) -> httpx.Response:
        msg = urlencode({**params, "nonce": str(nonce_us or nonce), "user": user, "signer": signer})
        wire = f"{msg}&signature={prefix}{eip712_signature(key, msg)}"
        url = ex.fake.base_url + path
        if method == "GET":
            return await ex.http.get(f"{url}?{wire}")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await ex.http.request(method, url, content=wire, headers=headers)

    balance = await call("GET", "/fapi/v3/balance", {})
    assert balance.status_code == 200
    assert balance.json()[0]["balance"] == "10000"
    order = await call(
        "POST",
        "/fapi/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"},
        nonce_us=nonce + 1,
        prefix="0x",
    )
    assert order.status_code == 200, order.text
    assert ex.fake.account(user).positions["BTCUSDT"].amount == Decimal("0.010")
    reused = await call("GET", "/fapi/v3/balance", {})
    assert code_of(reused) == (400, -4225)
    stale = await call("GET", "/fapi/v3/balance", {}, nonce_us=nonce - 11_000_000)
    assert code_of(stale) == (400, -4225)
    forged = await call(
        "GET", "/fapi/v3/balance", {}, key=bytes.fromhex("22" * 32), nonce_us=nonce + 2
    )
    assert code_of(forged) == (400, -1022)
    account = await call("GET", "/fapi/v3/accountWithJoinMargin", {}, nonce_us=nonce + 3)
    assert account.json()["totalWalletBalance"] == "9999.65"
    key = await call("POST", "/fapi/v3/listenKey", {}, nonce_us=nonce + 4)
    assert len(key.json()["listenKey"]) == 64
    ex.fake.inject(Fault("GET /fapi/v1/time", "http_503"))
    assert (await ex.get("/fapi/v3/time")).status_code == 503  # one fault string, both APIs
