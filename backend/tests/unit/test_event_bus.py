"""The event bus: seqs, JSON-safe data, resume, snapshots without gaps, slow subscribers."""

import asyncio
import enum
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.streaming.bus import EventBus, SnapshotUnavailable, StreamEvent, Subscriber
from app.streaming.channels import InvalidChannel, InvalidEvent, parse_channel
from app.streaming.messages import SERVER_MESSAGES, EventMessage, SnapshotMessage

ORDERS, FILLS = "account.a.orders", "account.a.fills"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Side(enum.StrEnum):
    BUY = "BUY"


def drain(subscriber: Subscriber) -> list[Any]:
    messages = []
    while not subscriber.queue.empty():
        messages.append(SERVER_MESSAGES.validate_json(subscriber.queue.get_nowait()))
    return messages


def seqs(messages: list[Any]) -> list[int]:
    return [m.seq for m in messages if isinstance(m, EventMessage)]


def test_seqs_start_at_one_and_grow_by_one_per_channel() -> None:
    bus = EventBus()

    published = [bus.publish(ORDERS, "order.new", {}) for _ in range(3)]
    fill = bus.publish(FILLS, "fill", {})

    assert [e.seq for e in published] == [1, 2, 3]
    assert fill.seq == 1
    assert (bus.current_seq(ORDERS), bus.current_seq(FILLS), bus.current_seq("x")) == (3, 1, 0)


def test_data_becomes_json_safe() -> None:
    bus = EventBus()
    ident = uuid.uuid4()

    event = bus.publish(
        ORDERS,
        "order.filled",
        {
            "price": Decimal("101.50"),
            "equity": Decimal("1E+4"),
            "at": AT,
            "id": ident,
            "side": Side.BUY,
            "legs": ({"qty": Decimal("0.001")},),
        },
        at=AT,
    )

    assert event.data == {
        "price": "101.5",  # decimals read as in REST answers: plain, unpadded
        "equity": "10000",
        "at": AT.isoformat(),
        "id": str(ident),
        "side": "BUY",
        "legs": [{"qty": "0.001"}],
    }
    assert json.loads(event.wire) == {
        "type": "event",
        "channel": ORDERS,
        "seq": 1,
        "event": "order.filled",
        "at": "2026-01-02T03:04:05Z",
        "data": event.data,
    }


def test_publish_refuses_bad_input_without_using_a_seq() -> None:
    bus = EventBus()

    with pytest.raises(InvalidChannel):
        bus.publish("account.a.secrets", "order.new", {})
    with pytest.raises(InvalidEvent):
        bus.publish(ORDERS, "Not An Event", {})
    with pytest.raises(InvalidEvent):
        bus.publish(FILLS, "something.else", {})  # only the events channel takes any type
    with pytest.raises(TypeError, match="object"):
        bus.publish(ORDERS, "order.new", {"x": object()})
    with pytest.raises(ValueError, match="timezone"):
        bus.publish(ORDERS, "order.new", {}, at=datetime(2026, 1, 1))  # noqa: DTZ001

    assert bus.current_seq(ORDERS) == 0


@pytest.mark.parametrize(
    ("channel", "event"),
    [
        ("account.a.orders", "order.partially_filled"),
        ("account.a.orders", "order.intent"),  # any order.<status>
        ("account.a-2.events", "recovery"),
        ("account.a.events", "position.adopted"),
        ("account.a.events", "cycle.skipped"),
        ("account.a.positions", "protection.armed"),
        ("account.a.equity", "equity.tick"),
        ("market.BTCUSDT.1m", "candle.closed"),
    ],
)
def test_documented_and_agent_events_are_accepted(channel: str, event: str) -> None:
    assert EventBus().publish(channel, event, {}).seq == 1


@pytest.mark.parametrize(
    "name", ["market.BTCUSDT.7m", "market.btcusdt.1m", "account..orders", "account.a.b.orders", ""]
)
def test_malformed_channels_are_invalid(name: str) -> None:
    with pytest.raises(InvalidChannel):
        parse_channel(name)


def test_since_returns_the_missing_events_or_none() -> None:
    bus = EventBus(history=5)
    for _ in range(8):
        bus.publish(ORDERS, "order.new", {})

    assert [e.seq for e in bus.since(ORDERS, 5) or []] == [6, 7, 8]
    assert [e.seq for e in bus.since(ORDERS, 3) or []] == [4, 5, 6, 7, 8]
    assert bus.since(ORDERS, 8) == []
    assert bus.since(ORDERS, 2) is None  # event 3 has left the ring
    assert bus.since(ORDERS, 9) is None  # seqs of an earlier run
    assert bus.since(FILLS, 0) == []


@settings(max_examples=200, deadline=None)
@given(
    history=st.integers(min_value=0, max_value=20),
    script=st.lists(st.sampled_from([ORDERS, FILLS]), max_size=60),
    since=st.integers(min_value=0, max_value=70),
)
def test_resume_gives_exactly_the_missing_events_in_order(
    history: int, script: list[str], since: int
) -> None:
    bus = EventBus(history=history)
    published: list[StreamEvent] = [
        bus.publish(c, "order.new", {"i": i}) for i, c in enumerate(script)
    ]
    mine = [e for e in published if e.channel == ORDERS]

    resumed = bus.since(ORDERS, since)

    missing = [e for e in mine if e.seq > since]
    if since > len(mine) or len(missing) > history:
        assert resumed is None
    else:
        assert resumed == missing


async def test_subscribe_sends_a_snapshot_then_live_events() -> None:
    bus = EventBus()
    bus.publish(ORDERS, "order.new", {})
    subscriber = Subscriber()

    await bus.subscribe(subscriber, ORDERS)
    bus.publish(ORDERS, "order.filled", {})
    bus.publish(FILLS, "fill", {})  # not subscribed

    messages = drain(subscriber)
    assert messages[0] == SnapshotMessage(channel=ORDERS, seq=1, data=None)
    assert seqs(messages[1:]) == [2]


async def test_events_published_while_the_snapshot_is_taken_follow_it_without_gap() -> None:
    bus = EventBus()
    bus.publish(ORDERS, "order.new", {})
    gate = asyncio.Event()

    async def slow_snapshot(channel: str) -> dict[str, Any]:
        seen = bus.current_seq(channel)
        await gate.wait()
        return {"seen": seen}

    bus.snapshots = slow_snapshot
    subscriber = Subscriber()
    task = asyncio.create_task(bus.subscribe(subscriber, ORDERS))
    await asyncio.sleep(0)
    for _ in range(3):
        bus.publish(ORDERS, "order.new", {})
    assert subscriber.queue.empty()  # held back until the snapshot is queued
    gate.set()
    await task
    bus.publish(ORDERS, "order.new", {})

    messages = drain(subscriber)
    assert messages[0] == SnapshotMessage(channel=ORDERS, seq=1, data={"seen": 1})
    assert seqs(messages[1:]) == [2, 3, 4, 5]


async def test_subscribe_with_since_seq_resumes_or_resyncs() -> None:
    bus = EventBus(history=3)
    for _ in range(5):
        bus.publish(ORDERS, "order.new", {})
    resumed, too_old, other_run = Subscriber(), Subscriber(), Subscriber()

    await bus.subscribe(resumed, ORDERS, since_seq=3, epoch=bus.epoch)
    await bus.subscribe(too_old, ORDERS, since_seq=1)
    await bus.subscribe(other_run, ORDERS, since_seq=3, epoch="another")

    assert seqs(drain(resumed)) == [4, 5]
    assert drain(too_old) == [SnapshotMessage(channel=ORDERS, seq=5, data=None, resync=True)]
    assert drain(other_run) == [SnapshotMessage(channel=ORDERS, seq=5, data=None, resync=True)]


async def test_missed_events_that_do_not_fit_the_queue_get_a_snapshot_instead() -> None:
    bus = EventBus()
    for _ in range(10):
        bus.publish(ORDERS, "order.new", {})
    subscriber = Subscriber(max_queue=4)

    await bus.subscribe(subscriber, ORDERS, since_seq=0)

    assert drain(subscriber) == [SnapshotMessage(channel=ORDERS, seq=10, data=None, resync=True)]
    assert not subscriber.slow


async def broken(_channel: str) -> None:
    raise ConnectionError("db password=hunter2 refused")


async def stuck(_channel: str) -> None:
    await asyncio.Event().wait()


@pytest.mark.parametrize("source", [broken, stuck])
async def test_a_failing_snapshot_source_leaves_the_channel_unsubscribed(
    source: Callable[[str], Awaitable[None]],
) -> None:
    bus = EventBus(snapshots=source, snapshot_timeout_s=0.01)
    subscriber = Subscriber()

    with pytest.raises(SnapshotUnavailable) as raised:
        await bus.subscribe(subscriber, ORDERS)

    assert "hunter2" not in str(raised.value)
    assert bus.subscriber_count(ORDERS) == 0
    assert subscriber.channels == set()


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    subscriber = Subscriber()
    await bus.subscribe(subscriber, ORDERS)
    await bus.subscribe(subscriber, FILLS)

    bus.unsubscribe(subscriber, [ORDERS])
    bus.publish(ORDERS, "order.new", {})
    bus.publish(FILLS, "fill", {})

    assert [(m.channel, m.seq) for m in drain(subscriber) if isinstance(m, EventMessage)] == [
        (FILLS, 1)
    ]
    assert bus.subscriber_count(ORDERS) == 0


async def test_a_stuck_subscriber_never_blocks_the_publisher_or_the_others() -> None:
    bus = EventBus()
    stuck, healthy = Subscriber(max_queue=10), Subscriber(max_queue=20_000)
    await bus.subscribe(stuck, ORDERS)
    await bus.subscribe(healthy, ORDERS)
    drain(stuck), drain(healthy)  # the snapshots

    for index in range(10_000):
        bus.publish(ORDERS, "order.new", {"index": index})

    assert stuck.slow
    assert stuck.undelivered == 11  # a full queue and the one that did not fit
    assert bus.subscriber_count(ORDERS) == 1  # the stuck one was dropped at once
    assert seqs(drain(healthy)) == list(range(1, 10_001))


async def test_a_subscriber_that_overflows_while_held_is_slow() -> None:
    gate = asyncio.Event()

    async def waiting(_channel: str) -> None:
        await gate.wait()

    bus = EventBus(snapshots=waiting)
    subscriber = Subscriber(max_queue=2)
    task = asyncio.create_task(bus.subscribe(subscriber, ORDERS))
    await asyncio.sleep(0)
    for _ in range(5):
        bus.publish(ORDERS, "order.new", {})
    gate.set()
    await task

    assert subscriber.slow
    assert subscriber.queue.empty()  # dropped before its snapshot: nothing is sent
    assert bus.subscriber_count(ORDERS) == 0
