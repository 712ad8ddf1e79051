"""The AsterDEX client against the fake exchange, over real HTTP on loopback."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account
from pydantic import SecretStr

from app.exchange.http.auth import HmacSigner, V3Signer
from app.exchange.http.client import AsterdexClient
from app.exchange.http.transport import RetryPolicy
from tests.contract import fake_helpers
from tests.contract.fake_helpers import Exchange, MakeExchange
from tests.fakes.asterdex import FakeAsterdex
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter

API_KEY = "contract-test-key"
API_SECRET = "contract-test-secret-0123456789"
V3_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
V3_SIGNER = Account.from_key(V3_KEY).address
V3_USER = "0x" + "12" * 20
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.02, max_delay_s=1.5)
# A short recvWindow keeps "was the order placed?" waits short in tests.
RECV_WINDOW_MS = 1000


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterdex]:
    """The fake exchange on wall-clock time, real candles rebased to end now."""
    exchange = FakeAsterdex(rebase_to=datetime.now(UTC))
    exchange.add_hmac_account(API_KEY, API_SECRET, balance=Decimal(10_000))
    async with exchange:
        yield exchange


@pytest.fixture
async def client(fake: FakeAsterdex) -> AsyncIterator[AsterdexClient]:
    """An HMAC-signed client of the fake's account."""
    signer = HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET), recv_window_ms=RECV_WINDOW_MS)
    async with AsterdexClient(
        base_url=fake.base_url, signer=signer, retry=FAST_RETRY, timeout_s=2.0
    ) as exchange_client:
        yield exchange_client


@pytest.fixture
def manual_clock() -> ManualClock:
    """Hand-moved time, shared by the fake and the client, for trigger tests."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return ManualClock(now)


@pytest.fixture
async def manual_fake(manual_clock: ManualClock) -> AsyncIterator[FakeAsterdex]:
    """The fake on manual time: candles close only when the test moves the clock."""
    exchange = FakeAsterdex(clock=manual_clock, rebase_to=manual_clock.now())
    exchange.add_hmac_account(API_KEY, API_SECRET, balance=Decimal(10_000))
    async with exchange:
        yield exchange


@pytest.fixture
async def manual_client(
    manual_fake: FakeAsterdex, manual_clock: ManualClock
) -> AsyncIterator[AsterdexClient]:
    """An HMAC client on the same manual clock as ``manual_fake``."""
    signer = HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET))
    async with AsterdexClient(
        base_url=manual_fake.base_url, signer=signer, clock=manual_clock, retry=FAST_RETRY
    ) as exchange_client:
        yield exchange_client


@pytest.fixture
async def v3_client(fake: FakeAsterdex) -> AsyncIterator[AsterdexClient]:
    """A V3 (API wallet) client of a second account on the fake."""
    fake.add_v3_account(V3_USER, V3_SIGNER, balance=Decimal(5_000))
    signer = V3Signer(V3_USER, V3_SIGNER, SecretStr(V3_KEY), chain_id=1666)
    async with AsterdexClient(
        base_url=fake.base_url, signer=signer, retry=FAST_RETRY, timeout_s=2.0
    ) as exchange_client:
        yield exchange_client


# -- the fake AsterDEX self-tests (test_fake_asterdex_*.py) -------------------------------------


@pytest.fixture
async def make_exchange() -> AsyncIterator[MakeExchange]:
    """Start fakes on a manual clock at ``START``; each gets the hand-signing HMAC account."""
    started: list[FakeAsterdex] = []
    async with httpx.AsyncClient() as http:

        async def make(**overrides: Any) -> Exchange:
            clock = overrides.pop("clock", None) or ManualClock(fake_helpers.START)
            options: dict[str, Any] = {
                "candles": fake_helpers.CANDLES,
                "symbol_specs": {"TESTUSDT": fake_helpers.TEST_SPEC},
                **overrides,
            }
            fake = FakeAsterdex(clock=clock, **options)
            await fake.start()
            started.append(fake)
            fake.add_hmac_account(fake_helpers.API_KEY, fake_helpers.SECRET)
            return Exchange(fake, http, clock)

        yield make
        for fake in started:
            await fake.stop()


@pytest.fixture
async def ex(make_exchange: MakeExchange) -> Exchange:
    """A fake with the default candles, started by ``make_exchange``."""
    return await make_exchange()


# -- the fake OpenRouter self-tests (test_fake_openrouter_*.py) ---------------------------------


@pytest.fixture
async def router() -> AsyncIterator[FakeOpenRouter]:
    """A fresh fake OpenRouter (named so as not to shadow the exchange fixture ``fake``)."""
    async with FakeOpenRouter() as server:
        yield server


@pytest.fixture
async def http(router: FakeOpenRouter) -> AsyncIterator[httpx.AsyncClient]:
    """A raw httpx client of ``router`` that sends the default API key."""
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with httpx.AsyncClient(base_url=router.base_url, headers=headers, timeout=5) as client:
        yield client
