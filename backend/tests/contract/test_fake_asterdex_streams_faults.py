"""Self-tests of the fake AsterDEX server: user-data and market streams, injected faults.

Requests are built by hand (see ``fake_helpers``), so these tests pin the wire protocol itself.
"""

import asyncio
import json
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.contract.fake_helpers import (
    API_KEY,
    BAR0,
    HOUR,
    Exchange,
    MakeExchange,
    code_of,
    next_event,
    next_json,
)
from tests.fakes.asterdex import Fault, FaultKind

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
