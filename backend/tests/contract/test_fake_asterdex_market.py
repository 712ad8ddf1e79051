"""Self-tests of the fake AsterDEX server: market data, klines and request weight.

Requests are built by hand (see ``fake_helpers``), so these tests pin the wire protocol itself.
"""

from tests.contract.fake_helpers import BAR0, HOUR, START, Exchange, MakeExchange, code_of

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
