"""Every fill on a live account reaches the agent, whoever ordered it.

A trade placed by hand on the same account (and so also a liquidation or an auto-deleverage:
a fill of an order the service did not send) in a symbol the service does not trade must not
be lost while the user-data stream is down or reconnecting, nor to a REST poll that fails.
Everything runs over loopback against the fake AsterDEX; a second client with the same key
plays the person trading by hand. The loop's test runs on the in-memory journal and again on
PostgreSQL, where a fill is kept once per trade across a restart by the database's own key.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from app.agent.loop import AgentConfig, AgentLoop
from app.db.session import SessionFactory
from app.exchange.errors import ExchangeError
from app.exchange.http.auth import HmacSigner
from app.exchange.http.client import AsterdexClient
from app.exchange.http.streams import ReconnectPolicy, UserDataStream
from app.exchange.http.transport import RetryPolicy
from app.exchange.live import LiveExchange
from app.exchange.ports import Execution
from app.exchange.types import ExchangeOrder, OrderRequest, OrderType, Side
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.http import OpenRouterClient
from app.llm.provider import LlmDecisionProvider
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.service import MarketDataService
from tests.fakes.asterdex import FakeAccount, FakeAsterdex, Fault
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import Reply
from tests.waiting import until

from .live import (
    ACCOUNT,
    API_KEY,
    API_SECRET,
    LIMITS,
    LLM_KEY,
    START,
    LiveRig,
    leg,
    live_rig,
    records,
)

FAST = ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.2)
LISTEN_KEY = "POST /fapi/v1/listenKey"
USER_TRADES = "GET /fapi/v1/userTrades"


def signed_client(
    fake: FakeAsterdex, clock: ManualClock, retry: RetryPolicy | None = None
) -> AsterdexClient:
    """A client of the one account (the service's, or the person's trading by hand)."""
    signer = HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET))
    return AsterdexClient(base_url=fake.base_url, signer=signer, clock=clock, retry=retry)


async def by_hand(client: AsterdexClient, symbol: str, side: Side, cid: str) -> ExchangeOrder:
    """A MARKET order the service knows nothing about."""
    size = Decimal("0.01") if symbol == "BTCUSDT" else Decimal("0.1")
    return await client.place_order(
        OrderRequest(symbol, side, OrderType.MARKET, cid, quantity=size)
    )


async def round_trip(client: AsterdexClient, symbol: str, first: str, second: str) -> None:
    """Buy then sell by hand: the position is flat again, only the fills and income remain."""
    await by_hand(client, symbol, Side.BUY, first)
    await by_hand(client, symbol, Side.SELL, second)


async def stream_down(fake: FakeAsterdex, live: LiveExchange) -> None:
    """Cut the user-data stream and keep it from reconnecting (no listen key to be had)."""
    fake.inject(Fault(LISTEN_KEY, "http_503", times=-1))
    await fake.drop_websockets()
    await until(lambda: not live.streaming, "the stream to go down")


async def stream_back(fake: FakeAsterdex, clock: ManualClock, live: LiveExchange) -> None:
    """Let the stream reconnect: its backoff waits run on the manual clock."""
    fake.clear_faults()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not live.streaming:
        assert loop.time() < deadline, "the stream did not come back"
        clock.advance(timedelta(seconds=1))
        await asyncio.sleep(0.01)


def requests_to(fake: FakeAsterdex, endpoint: str) -> int:
    method, path = endpoint.split(" ")
    return sum(1 for r in fake.requests if (r.method, r.path) == (method, path))


def ids(fills: list[Execution]) -> list[tuple[str, str]]:
    return sorted((f.symbol, f.client_order_id) for f in fills)


@dataclass
class Rig:
    """The fake, the service's live exchange (trading BTC only) and a hand-trading client."""

    clock: ManualClock
    fake: FakeAsterdex
    account: FakeAccount
    live: LiveExchange
    stream: UserDataStream
    hand: AsterdexClient


@asynccontextmanager
async def btc_service() -> AsyncIterator[Rig]:
    """A live exchange trading BTCUSDT, its stream started; REST reads are tried once."""
    clock = ManualClock(START)
    async with FakeAsterdex(clock=clock, rebase_to=START) as fake:
        account = fake.add_hmac_account(API_KEY, API_SECRET, balance=Decimal(10_000))
        async with (
            signed_client(fake, clock, retry=RetryPolicy(attempts=1)) as client,
            signed_client(fake, clock) as hand,
        ):
            stream = UserDataStream(client, fake.ws_url, ["BTCUSDT"], clock=clock, policy=FAST)
            live = LiveExchange(client, symbols=["BTCUSDT"], stream=stream)
            await live.start()
            try:
                yield Rig(clock, fake, account, live, stream, hand)
            finally:
                await live.aclose()


async def test_a_trade_by_hand_while_the_stream_is_down_is_polled_for() -> None:
    async with btc_service() as rig:
        since = rig.clock.now()
        assert rig.live.streaming  # start() waited for the first connection
        assert await rig.live.executions(since) == []  # the first look polls REST
        polls = requests_to(rig.fake, USER_TRADES)
        assert await rig.live.executions(since) == []
        assert requests_to(rig.fake, USER_TRADES) == polls  # the stream was up all along

        await stream_down(rig.fake, rig.live)
        # ETH, which the service does not trade; flat again, so no position shows it.
        await round_trip(rig.hand, "ETHUSDT", "by-hand-1", "by-hand-2")
        fills = await rig.live.executions(since)
        again = await rig.live.executions(since)

    assert rig.account.positions["ETHUSDT"].amount == 0
    assert ids(fills) == [("ETHUSDT", "by-hand-1"), ("ETHUSDT", "by-hand-2")]
    assert all(f.quantity == Decimal("0.1") for f in fills)
    assert again == []  # each fill is returned once


async def test_a_reconnect_between_two_looks_makes_the_next_look_poll_everything() -> None:
    async with btc_service() as rig:
        since = rig.clock.now()
        await rig.live.executions(since)
        await rig.fake.drop_websockets()  # it comes straight back (no fault)
        await until(lambda: rig.stream.losses == 1, "the connection to be lost")
        await stream_back(rig.fake, rig.clock, rig.live)
        assert rig.stream.connections == 2
        before = requests_to(rig.fake, "GET /fapi/v1/income")

        await rig.live.executions(since)
        after = requests_to(rig.fake, "GET /fapi/v1/income")
        await rig.live.executions(since)

    assert after == before + 1  # looked for symbols with fills: the stream was not trusted
    assert requests_to(rig.fake, "GET /fapi/v1/income") == after  # up since: trusted again


@pytest.mark.parametrize(
    "faults",
    [
        # The BTCUSDT poll answers, the ETHUSDT one fails.
        [Fault(USER_TRADES, "latency", latency_s=0.01), Fault(USER_TRADES, "http_503")],
        [Fault("GET /fapi/v1/income", "http_503")],
        [Fault("GET /fapi/v2/positionRisk", "http_503")],
    ],
    ids=["second-userTrades", "income", "positionRisk"],
)
async def test_a_failed_rest_poll_loses_nothing(faults: list[Fault]) -> None:
    async with btc_service() as rig:
        since = rig.clock.now()
        await rig.live.executions(since)
        await rig.live.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-1", quantity=Decimal("0.01"))
        )
        await until(lambda: rig.live.buffered_fills == 1, "the stream to push the fill")
        await stream_down(rig.fake, rig.live)
        await round_trip(rig.hand, "ETHUSDT", "by-hand-1", "by-hand-2")
        for fault in faults:
            rig.fake.inject(fault)

        with pytest.raises(ExchangeError):
            await rig.live.executions(since)
        kept = rig.live.buffered_fills
        fills = await rig.live.executions(since)
        again = await rig.live.executions(since)

    assert kept >= 1  # the stream's fill was not dropped with the failed look
    assert ids(fills) == [("BTCUSDT", "ta-1"), ("ETHUSDT", "by-hand-1"), ("ETHUSDT", "by-hand-2")]
    assert again == []


async def test_fills_of_forced_closes_and_orders_by_hand_are_returned_like_any_other() -> None:
    async with btc_service() as rig:
        since = rig.clock.now()
        await rig.live.executions(since)
        await by_hand(rig.hand, "BTCUSDT", Side.BUY, "by-hand-btc")  # on the stream
        await until(lambda: rig.live.buffered_fills == 1, "the stream to push the fill")
        await stream_down(rig.fake, rig.live)
        # What the exchange's own closing orders look like (the fake has no liquidation
        # engine, so the hand client sends them under the exchange's client ids).
        await by_hand(rig.hand, "BTCUSDT", Side.SELL, "autoclose-1700000000000")
        await round_trip(rig.hand, "SOLUSDT", "adl_autoclose-1", "manual")

        fills = await rig.live.executions(since)

    assert ids(fills) == [
        ("BTCUSDT", "autoclose-1700000000000"),
        ("BTCUSDT", "by-hand-btc"),
        ("SOLUSDT", "adl_autoclose-1"),
        ("SOLUSDT", "manual"),
    ]


async def btc_only_loop(rig: LiveRig) -> tuple[AgentLoop, LiveExchange]:
    """A live loop trading BTC only, its user-data stream following BTC only."""
    client = signed_client(rig.exchange, rig.clock)
    public = AsterdexClient(base_url=rig.exchange.base_url, clock=rig.clock)
    llm = OpenRouterClient(base_url=rig.router.base_url, api_key=SecretStr(LLM_KEY))
    stream = UserDataStream(client, rig.exchange.ws_url, ["BTCUSDT"], clock=rig.clock, policy=FAST)
    live = LiveExchange(client, symbols=["BTCUSDT"], stream=stream, funding_since=rig.clock.now())
    rig.closers.extend([live, client, public, llm])
    await live.prepare()
    await live.start()
    market = MarketDataService(
        ExchangeMarketData(public), rig.sessions, rig.clock, intervals=("1h",)
    )
    await market.backfill("BTCUSDT")
    provider = LlmDecisionProvider(
        llm, model="x-ai/grok-4", features=feature_names(IndicatorConfig()), max_tokens=4000
    )
    config = AgentConfig(ACCOUNT, {"BTC": "BTCUSDT"}, "1h", "1h", LIMITS)
    loop = AgentLoop(
        config,
        clock=rig.clock,
        market=market,
        exchange=live,
        provider=provider,
        journal=rig.journal(),
    )
    return loop, live


def hold(rig: LiveRig) -> None:
    rig.router.script(Reply.json({"decisions": [leg("BTC")], "summary": "test"}))


async def test_the_loop_journals_a_trade_by_hand_made_while_the_stream_was_down(
    store: SessionFactory | None,
) -> None:
    async with live_rig(store) as rig:
        loop, live = await btc_only_loop(rig)
        hold(rig)
        await loop.tick()
        async with signed_client(rig.exchange, rig.clock) as hand:
            await stream_down(rig.exchange, live)
            rig.clock.advance(timedelta(seconds=10))
            await round_trip(hand, "ETHUSDT", "by-hand-1", "by-hand-2")
            # A later fill in the traded symbol: the loop's fill cursor moves past the ETH ones.
            rig.clock.advance(timedelta(seconds=10))
            await round_trip(hand, "BTCUSDT", "by-hand-3", "by-hand-4")
        await stream_back(rig.exchange, rig.clock, live)
        hold(rig)

        await loop.tick()

        _, fills, _ = await records(rig)
        by_symbol = sorted((f.symbol, f.order_client_id) for f in fills)
        restarted, _ = await btc_only_loop(rig)
        await restarted.recover()  # after a restart: nothing new, nothing twice
        _, after_restart, _ = await records(rig)

    assert by_symbol == [("BTCUSDT", None)] * 2 + [("ETHUSDT", None)] * 2
    assert sorted(f.trade_id for f in after_restart) == sorted(f.trade_id for f in fills)
