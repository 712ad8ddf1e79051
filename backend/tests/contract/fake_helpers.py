"""Shared request builders for the fake AsterDEX self-tests (``test_fake_asterdex_*.py``).

Requests are built by hand (raw httpx and websockets, signatures computed here), so those tests pin
the wire protocol itself, not the project's client. The ``make_exchange`` and ``ex`` fixtures that
start a fake around these helpers live in ``conftest.py``.
"""

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from websockets.asyncio.client import ClientConnection

from tests.fakes.asterdex import FakeAsterdex, FakeCandle, FakeSymbolSpec
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


async def next_json(ws: ClientConnection, wait_s: float = 2.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def next_event(ws: ClientConnection, kind: str) -> JsonObject:
    while True:
        message = await next_json(ws)
        if message.get("e") == kind:
            return dict(message)
