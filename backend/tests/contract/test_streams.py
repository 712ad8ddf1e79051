"""Streams against the fake: live events, a dropped socket, and REST catch-up."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from datetime import timedelta
from decimal import Decimal

from app.exchange.events import KlineClosed, OrderUpdate, StreamReconnected
from app.exchange.http.client import AsterdexClient
from app.exchange.http.streams import MarketStream, ReconnectPolicy, UserDataStream
from app.exchange.types import OrderRequest, OrderType, Side
from tests.fakes.asterdex import FakeAsterdex
from tests.fakes.clock import ManualClock

FAST = ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.2, ping_interval_s=5)


async def take[E](events: AsyncIterator[E], count: int, within: float = 10.0) -> list[E]:
    got: list[E] = []

    async def collect() -> None:
        async for event in events:
            got.append(event)
            if len(got) == count:
                return

    await asyncio.wait_for(collect(), within)
    return got


async def test_closed_klines_arrive_and_missed_ones_are_caught_up(
    manual_client: AsterdexClient, manual_fake: FakeAsterdex, manual_clock: ManualClock
) -> None:
    last = (await manual_client.klines("BTCUSDT", "1h", limit=2))[0]
    assert last.closed
    stream = MarketStream(
        manual_client,
        manual_fake.ws_url,
        [("BTCUSDT", "1h")],
        since={("BTCUSDT", "1h"): last.open_time},
        policy=FAST,
    )
    async with aclosing(stream.events()) as events:
        first_task = asyncio.ensure_future(take(events, 1))
        await asyncio.sleep(0.3)  # connected and subscribed
        manual_clock.advance(timedelta(hours=1))
        await manual_fake.process()
        (live,) = await first_task

        await manual_fake.drop_websockets()
        manual_clock.advance(timedelta(hours=2))
        await manual_fake.process()
        after = await take(events, 3)

    assert isinstance(live, KlineClosed)
    assert live.kline.open_time == last.open_time + timedelta(hours=1)
    assert not live.catch_up
    assert isinstance(after[0], StreamReconnected)
    missed = [e for e in after[1:] if isinstance(e, KlineClosed)]
    assert [e.kline.open_time for e in missed] == [
        last.open_time + timedelta(hours=2),
        last.open_time + timedelta(hours=3),
    ]
    assert all(e.catch_up and e.kline.closed for e in missed)


async def take_until[E](
    events: AsyncIterator[E], done: Callable[[E], bool], within: float = 10.0
) -> list[E]:
    got: list[E] = []

    async def collect() -> None:
        async for event in events:
            got.append(event)
            if done(event):
                return

    await asyncio.wait_for(collect(), within)
    return got


def fill_of(client_id: str) -> Callable[[object], bool]:
    return lambda e: isinstance(e, OrderUpdate) and e.is_fill and e.client_order_id == client_id


async def test_fills_arrive_and_fills_missed_while_disconnected_are_caught_up(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    # Reconnecting takes ≥ 0.5 s: the second order fills while the stream is down.
    slow = ReconnectPolicy(base_delay_s=1.0, max_delay_s=1.0, ping_interval_s=5)
    stream = UserDataStream(client, fake.ws_url, ["BTCUSDT"], policy=slow)

    async with aclosing(stream.events()) as events:
        first = asyncio.ensure_future(take_until(events, fill_of("ta-ws-1")))
        await asyncio.sleep(0.3)
        await client.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-ws-1", quantity=Decimal("0.01"))
        )
        live = await first

        await fake.drop_websockets()
        await client.place_order(
            OrderRequest(
                "BTCUSDT", Side.SELL, OrderType.MARKET, "ta-ws-2", quantity=Decimal("0.01")
            )
        )
        later = await take_until(events, fill_of("ta-ws-2"))

    assert not [e for e in live if isinstance(e, OrderUpdate)][-1].catch_up
    assert isinstance(later[0], StreamReconnected)
    fills = [e for e in later if isinstance(e, OrderUpdate) and e.is_fill]
    assert [f.client_order_id for f in fills] == ["ta-ws-2"]
    assert fills[0].catch_up
    assert fills[0].last_qty == Decimal("0.01")


async def test_planned_reconnect_before_the_lifetime_ends_loses_nothing(
    manual_client: AsterdexClient, manual_fake: FakeAsterdex, manual_clock: ManualClock
) -> None:
    last = (await manual_client.klines("SOLUSDT", "1h", limit=2))[0]
    # A 0.5 s "day": the stream reconnects on purpose, then catches up.
    short_lived = ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.1, lifetime_s=0.5)
    stream = MarketStream(
        manual_client,
        manual_fake.ws_url,
        [("SOLUSDT", "1h")],
        mark_prices=["SOLUSDT"],
        since={("SOLUSDT", "1h"): last.open_time},
        policy=short_lived,
    )
    async with aclosing(stream.events()) as events:
        await asyncio.sleep(0.8)  # past one planned reconnect
        manual_clock.advance(timedelta(hours=1))
        await manual_fake.process()
        got = await take_until(events, lambda e: isinstance(e, KlineClosed))

    reconnects = [e for e in got if isinstance(e, StreamReconnected)]
    closed = [e for e in got if isinstance(e, KlineClosed)]
    assert reconnects
    assert "planned reconnect" in reconnects[0].reason
    assert reconnects[0].attempt == 0
    assert [e.kline.open_time for e in closed] == [last.open_time + timedelta(hours=1)]


async def test_listen_key_is_kept_alive_and_replaced_when_gone(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    stream = UserDataStream(client, fake.ws_url, ["BTCUSDT"], policy=FAST, keepalive_s=0.2)
    async with aclosing(stream.events()) as events:
        first = asyncio.ensure_future(take_until(events, fill_of("ta-lk-1")))
        await asyncio.sleep(0.5)  # at least one keepalive
        old_key = stream.listen_key
        assert old_key is not None
        await client.close_listen_key(old_key)  # the key is gone: the next keepalive fails
        await asyncio.sleep(0.6)
        await client.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-lk-1", quantity=Decimal("0.01"))
        )
        got = await first

    keepalives = [r for r in fake.requests if (r.method, r.path) == ("PUT", "/fapi/v1/listenKey")]
    assert keepalives
    assert stream.listen_key != old_key
    assert [e for e in got if isinstance(e, OrderUpdate) and e.is_fill]
