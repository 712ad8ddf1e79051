"""The user-data stream says whether it is connected, counts its connections, and its catch-up
after a reconnect finds fills in symbols it was never told about."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal

from app.exchange.events import OrderUpdate, StreamReconnected, UserEvent
from app.exchange.http.client import AsterdexClient
from app.exchange.http.streams import ReconnectPolicy, UserDataStream
from app.exchange.types import OrderRequest, OrderType, Side
from tests.fakes.asterdex import FakeAsterdex, Fault
from tests.waiting import until

FAST = ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.2, ping_interval_s=5)


async def collect(events: AsyncIterator[UserEvent], into: list[UserEvent]) -> None:
    async for event in events:
        into.append(event)


def has_fill(events: list[UserEvent], client_id: str) -> bool:
    return any(
        isinstance(e, OrderUpdate) and e.is_fill and e.client_order_id == client_id for e in events
    )


async def test_connection_state_and_catch_up_of_a_symbol_the_stream_was_not_given(
    client: AsterdexClient, fake: FakeAsterdex
) -> None:
    stream = UserDataStream(client, fake.ws_url, ["BTCUSDT"], policy=FAST)
    assert (stream.connected, stream.connections, stream.losses) == (False, 0, 0)
    async with aclosing(stream.events()) as events:
        got: list[UserEvent] = []
        reader = asyncio.ensure_future(collect(events, got))
        await asyncio.wait_for(stream.wait_connected(), 10)
        up = (stream.connected, stream.connections, stream.losses)

        fake.inject(Fault("POST /fapi/v1/listenKey", "http_503", times=-1))  # no way back
        await fake.drop_websockets()
        await until(lambda: not stream.connected, "the stream to notice")
        down = (stream.connected, stream.connections, stream.losses)
        for side, cid in ((Side.BUY, "by-hand-1"), (Side.SELL, "by-hand-2")):  # flat again
            await client.place_order(
                OrderRequest("ETHUSDT", side, OrderType.MARKET, cid, quantity=Decimal("0.1"))
            )
        fake.clear_faults()
        await until(lambda: has_fill(got, "by-hand-2") and stream.connected, "catch-up")
        back = (stream.connected, stream.connections, stream.losses)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    closed = (stream.connected, stream.losses)

    assert up == (True, 1, 0)
    assert down == (False, 1, 1)
    assert back == (True, 2, 1)
    assert closed == (False, 2)
    assert isinstance(got[0], StreamReconnected)
    fills = [e for e in got if isinstance(e, OrderUpdate) and e.is_fill]
    assert [(f.symbol, f.client_order_id, f.catch_up) for f in fills] == [
        ("ETHUSDT", "by-hand-1", True),
        ("ETHUSDT", "by-hand-2", True),
    ]
