"""``/ws`` over a real socket: the app on uvicorn (loopback), a ``websockets`` client.

Events are published through the running app's own bus, as the agent would.
"""

import asyncio
import json
import re
import secrets
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.streaming.bus import EventBus
from app.streaming.messages import (
    SERVER_MESSAGES,
    ClosingMessage,
    ErrorMessage,
    EventMessage,
    HeartbeatMessage,
    PongMessage,
    ServerMessage,
    SnapshotMessage,
    SubscribedMessage,
    UnsubscribedMessage,
)
from app.streaming.router import get_stream_options
from app.streaming.session import StreamOptions
from tests.service import serve

FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
ORDERS, FILLS = "account.default.orders", "account.default.fills"
# Heartbeats stay out of the way unless a test asks for them.
QUIET = StreamOptions(heartbeat_s=60.0, auth_timeout_s=0.3, send_queue=100, close_timeout_s=5.0)


@dataclass
class Service:
    url: str
    port: int
    bus: EventBus


@asynccontextmanager
async def serving(options: StreamOptions = QUIET) -> AsyncIterator[Service]:
    """The app with its real lifespan, served by uvicorn on a free loopback port."""

    def quiet(app: FastAPI) -> None:
        app.dependency_overrides[get_stream_options] = lambda: options

    async with serve(configure=quiet) as running:
        port = int(running.base_url.rsplit(":", 1)[1])
        yield Service(running.ws_url, port, running.container.bus)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", FULL)
    monkeypatch.setenv("API_READ_TOKEN", READ)


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    async with serving() as running:
        running.bus.snapshots = snapshot_of
        yield running


async def snapshot_of(channel: str) -> dict[str, Any]:
    return {"state_of": channel}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def receive(ws: ClientConnection) -> ServerMessage:
    async with asyncio.timeout(5):
        return SERVER_MESSAGES.validate_json(await ws.recv())


async def send(ws: ClientConnection, message: Mapping[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def subscribe(
    ws: ClientConnection, *channels: str, **extra: Any
) -> tuple[SubscribedMessage, list[ServerMessage]]:
    """Subscribe and return the reply plus one message per channel (a snapshot or an event)."""
    await send(ws, {"type": "subscribe", "channels": list(channels), **extra})
    reply = await receive(ws)
    assert isinstance(reply, SubscribedMessage)
    return reply, [await receive(ws) for _ in channels]


async def events(ws: ClientConnection, count: int) -> list[EventMessage]:
    received = [await receive(ws) for _ in range(count)]
    assert all(isinstance(message, EventMessage) for message in received), received
    return [message for message in received if isinstance(message, EventMessage)]


def publish(bus: EventBus, channel: str, count: int, **data: Any) -> None:
    for index in range(count):
        bus.publish(channel, "order.new", {"index": index, **data})


@pytest.mark.parametrize("token", [FULL, READ])
@pytest.mark.parametrize("how", ["header", "first message"])
async def test_either_token_subscribes_by_header_or_first_message(
    service: Service, token: str, how: str
) -> None:
    headers = bearer(token) if how == "header" else {}
    async with connect(service.url, additional_headers=headers) as ws:
        if how == "first message":
            await send(ws, {"type": "auth", "token": token})
        reply, (snapshot,) = await subscribe(ws, ORDERS)

    assert reply.channels == [ORDERS]
    assert reply.epoch == service.bus.epoch
    assert snapshot == SnapshotMessage(channel=ORDERS, seq=0, data={"state_of": ORDERS})


@pytest.mark.parametrize(
    ("headers", "first"),
    [
        (bearer("wrong-token"), None),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({}, {"type": "auth", "token": "wrong-token"}),
        ({}, {"type": "subscribe", "channels": [ORDERS]}),
        ({}, None),  # says nothing until the auth timeout
    ],
)
async def test_no_valid_token_gets_an_error_and_close_4401(
    service: Service, headers: dict[str, str], first: dict[str, Any] | None
) -> None:
    async with connect(service.url, additional_headers=headers) as ws:
        if first is not None:
            await send(ws, first)
        error, closing = await receive(ws), await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)

    assert isinstance(error, ErrorMessage)
    assert error.error == "not_authenticated"
    assert closing == ClosingMessage(reason="not authenticated")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    assert "wrong-token" not in error.detail
    assert FULL not in error.detail
    assert READ not in error.detail


async def test_snapshot_then_events_in_order(service: Service) -> None:
    async with connect(service.url, additional_headers=bearer(READ)) as ws:
        _, (snapshot,) = await subscribe(ws, ORDERS)
        publish(service.bus, ORDERS, 3, price=Decimal("101.50"))
        received = await events(ws, 3)

    assert isinstance(snapshot, SnapshotMessage)
    assert (snapshot.seq, snapshot.resync) == (0, False)
    assert [e.seq for e in received] == [1, 2, 3]
    assert [e.data["index"] for e in received] == [0, 1, 2]
    assert received[0].data["price"] == "101.5"  # plain, unpadded, as in REST answers
    assert received[0].event == "order.new"
    assert received[0].channel == ORDERS
    assert received[0].at.tzinfo is not None


async def test_reconnecting_with_since_seq_resumes_without_gaps_or_duplicates(
    service: Service,
) -> None:
    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        reply, _ = await subscribe(ws, ORDERS)
        publish(service.bus, ORDERS, 3)
        seen = [e.seq for e in await events(ws, 3)]
    publish(service.bus, ORDERS, 4)  # while the client is away

    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        await send(
            ws,
            {
                "type": "subscribe",
                "channels": [ORDERS],
                "since_seq": {ORDERS: seen[-1]},
                "epoch": reply.epoch,
            },
        )
        assert isinstance(await receive(ws), SubscribedMessage)
        missed = await events(ws, 4)
        publish(service.bus, ORDERS, 1)
        live = await events(ws, 1)
        await send(ws, {"type": "ping"})
        assert await receive(ws) == PongMessage()  # and nothing else came in between

    assert seen + [e.seq for e in missed + live] == list(range(1, 9))


@pytest.mark.parametrize("stale", ["older than the ring", "another epoch"])
async def test_a_stale_since_seq_gets_a_resync_snapshot(service: Service, stale: str) -> None:
    publish(service.bus, ORDERS, 1005 if stale == "older than the ring" else 5)
    epoch = "another-run" if stale == "another epoch" else service.bus.epoch

    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        _, (snapshot,) = await subscribe(ws, ORDERS, since_seq={ORDERS: 2}, epoch=epoch)
        publish(service.bus, ORDERS, 1)
        (event,) = await events(ws, 1)

    current = service.bus.current_seq(ORDERS) - 1
    assert snapshot == SnapshotMessage(
        channel=ORDERS, seq=current, data={"state_of": ORDERS}, resync=True
    )
    assert event.seq == current + 1


async def test_unsubscribe_stops_the_events_of_that_channel(service: Service) -> None:
    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        await subscribe(ws, ORDERS, FILLS)
        await send(ws, {"type": "unsubscribe", "channels": [ORDERS]})
        reply = await receive(ws)
        publish(service.bus, ORDERS, 2)
        service.bus.publish(FILLS, "fill", {"qty": 1})
        (event,) = await events(ws, 1)
        await send(ws, {"type": "ping"})
        pong = await receive(ws)

    assert reply == UnsubscribedMessage(channels=[ORDERS])
    assert (event.channel, event.seq) == (FILLS, 1)
    assert pong == PongMessage()
    assert service.bus.subscriber_count(ORDERS) == 0


async def test_bad_channels_get_errors_and_the_connection_stays_usable(service: Service) -> None:
    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        channels = ["account.default.secrets", "account.ghost.orders", "market.btc.1m", ORDERS]
        await send(ws, {"type": "subscribe", "channels": channels})
        errors = [await receive(ws) for _ in range(3)]
        reply, snapshot = await receive(ws), await receive(ws)
        await send(ws, {"type": "ping"})
        pong = await receive(ws)

    assert [(e.error, e.channel) for e in errors if isinstance(e, ErrorMessage)] == [
        ("invalid_channel", "account.default.secrets"),
        ("not_found", "account.ghost.orders"),
        ("invalid_channel", "market.btc.1m"),
    ]
    assert reply == SubscribedMessage(channels=[ORDERS], epoch=service.bus.epoch)
    assert isinstance(snapshot, SnapshotMessage)
    assert pong == PongMessage()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("this is not json", "invalid_json"),
        ('{"type": "dance"}', "invalid_message"),
        ('{"type": "subscribe"}', "invalid_message"),
        ('{"type": "subscribe", "channels": ["x"], "sinceSeq": {}}', "invalid_message"),
        ('{"type": "auth", "token": "again"}', "invalid_message"),
    ],
)
async def test_malformed_messages_get_an_error_and_the_connection_stays_usable(
    service: Service, text: str, code: str
) -> None:
    async with connect(service.url, additional_headers=bearer(FULL)) as ws:
        await ws.send(text)
        error = await receive(ws)
        await send(ws, {"type": "ping"})
        pong = await receive(ws)

    assert isinstance(error, ErrorMessage)
    assert error.error == code
    assert "again" not in error.detail
    assert pong == PongMessage()


async def test_heartbeats_arrive_on_a_quiet_stream() -> None:
    options = StreamOptions(heartbeat_s=0.05, auth_timeout_s=1.0)
    async with (
        serving(options) as service,
        connect(service.url, additional_headers=bearer(READ)) as ws,
    ):
        first, second = await receive(ws), await receive(ws)

    assert isinstance(first, HeartbeatMessage)
    assert isinstance(second, HeartbeatMessage)
    assert second.at >= first.at


async def read_until_closed(ws: ClientConnection) -> tuple[list[ServerMessage], ConnectionClosed]:
    received: list[ServerMessage] = []
    while True:
        try:
            received.append(await receive(ws))
        except ConnectionClosed as closed:
            return received, closed


def _tiny_receive_buffer_socket(port: int) -> socket.socket:
    # A reader that does not read: a small kernel buffer fills (and backs up to the server)
    # after a few hundred kilobytes instead of megabytes.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_slow_consumer_is_closed_4008_while_a_fast_one_gets_everything() -> None:
    options = StreamOptions(heartbeat_s=60.0, send_queue=8, close_timeout_s=5.0)
    blob = secrets.token_urlsafe(49_152)  # 64 KiB that permessage-deflate cannot shrink
    async with serving(options) as service:
        headers = bearer(FULL)
        async with (
            connect(service.url, additional_headers=headers) as fast,
            connect(
                service.url,
                additional_headers=headers,
                sock=_tiny_receive_buffer_socket(service.port),
                max_queue=1,
            ) as slow,
        ):
            await subscribe(fast, ORDERS)
            await subscribe(slow, ORDERS)
            seqs = []
            published = 0
            # Lock-step with the fast client: it is never behind, the slow one never reads.
            while service.bus.subscriber_count(ORDERS) == 2 and published < 1_000:
                publish(service.bus, ORDERS, 1, blob=blob)
                published += 1
                seqs += [e.seq for e in await events(fast, 1)]
            publish(service.bus, ORDERS, 5, blob=blob)
            seqs += [e.seq for e in await events(fast, 5)]

            tail, closed = await read_until_closed(slow)

    assert service.bus.subscriber_count(ORDERS) == 0
    assert seqs == list(range(1, published + 6))
    assert closed.rcvd is not None
    assert closed.rcvd.code == 4008
    assert isinstance(tail[-1], ClosingMessage)
    assert re.fullmatch(r"too slow: \d+ events not delivered", tail[-1].reason)
    delivered = [m.seq for m in tail if isinstance(m, EventMessage)]
    assert delivered == list(range(1, len(delivered) + 1))  # what did arrive has no gap
    assert len(delivered) < published
