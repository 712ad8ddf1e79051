"""Self-tests of the fake AsterDEX server: HMAC and V3 (EIP-712) signing, timestamps, auth errors.

Requests are built by hand (see ``fake_helpers``), so these tests pin the wire protocol itself.
"""

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlencode

import httpx
from eth_account import Account

from tests.contract.fake_helpers import (
    API_KEY,
    HOUR,
    SECRET,
    Exchange,
    MakeExchange,
    code_of,
    eip712_signature,
    flat,
    hmac_hex,
)
from tests.fakes.asterdex import Fault
from tests.fakes.clock import ManualClock

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
