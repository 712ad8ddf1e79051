"""In-process publish/subscribe of stream events, with per-channel seqs and a resume ring.

Publishers (the agent, the market data service) call :meth:`EventBus.publish`; it is
synchronous, never waits and never fails because of a subscriber. Each ``/ws`` connection is
one :class:`Subscriber` with a bounded queue: when the queue is full the subscriber is marked
slow and dropped from the bus, and its connection closes it, so a stuck client costs the
publisher and the other clients nothing.

Call everything from the event loop's thread (asyncio queues are not thread-safe).
"""

import asyncio
import dataclasses
import enum
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from functools import cached_property
from itertools import islice
from typing import Any, Final

from pydantic import BaseModel

from app.core.clock import Clock, SystemClock
from app.core.decimals import plain_decimal
from app.core.errors import DatabaseUnavailable
from app.streaming.channels import Channel, check_event, parse_channel
from app.streaming.messages import EventMessage, SnapshotMessage, wire

logger = logging.getLogger(__name__)

DEFAULT_HISTORY: Final = 1000
DEFAULT_QUEUE: Final = 1000

SnapshotSource = Callable[[str], Awaitable[Any]]
"""Given a channel, its current state as JSON-able data (None when there is nothing to say).

Called once per snapshot, concurrently with publishing: the data may already include events
after the snapshot's seq; those events are delivered after the snapshot anyway.
"""


async def no_snapshot(_channel: str) -> None:
    """The default :data:`SnapshotSource`: every snapshot carries ``data: null``."""
    return None


class SnapshotUnavailable(RuntimeError):
    """The snapshot source failed; the channel was not subscribed."""


def _json_safe(value: Any) -> Any:
    # Enum first: a StrEnum is also a str, and we want its value either way.
    if isinstance(value, enum.Enum):
        return _json_safe(value.value)
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {_key(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_safe(dataclasses.asdict(value))
    raise TypeError(f"a {type(value).__name__} has no JSON form in stream event data")


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(_json_safe(key))


@dataclasses.dataclass(frozen=True)
class StreamEvent:
    """One published event (``data`` is JSON-safe: made so by :meth:`EventBus.publish`).

    Attributes:
        channel: The channel it was published on.
        seq: Its position in the channel: 1, 2, 3, ... with no gaps.
        event: Its name (``order.filled``).
        at: When it happened, timezone-aware.
        data: Its payload.
    """

    channel: str
    seq: int
    event: str
    at: datetime
    data: dict[str, Any]

    @cached_property
    def wire(self) -> str:
        """The ``event`` message's JSON text, built once however many clients receive it."""
        return wire(
            EventMessage(
                channel=self.channel, seq=self.seq, event=self.event, at=self.at, data=self.data
            )
        )


class Subscriber:
    """One connection's end of the bus: a bounded queue of JSON texts for its sender.

    Args:
        max_queue: Messages that may wait for the sender; one more marks the subscriber slow.
    """

    def __init__(self, max_queue: int = DEFAULT_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.queue: asyncio.Queue[str] = asyncio.Queue(max_queue)
        self.channels: set[str] = set()
        # Channels waiting for their snapshot: their events are held here until it is queued.
        self._held: dict[str, list[StreamEvent]] = {}
        self._refused = 0
        self._slow = asyncio.Event()

    @property
    def slow(self) -> bool:
        """True once a message did not fit: the connection must be closed."""
        return self._slow.is_set()

    @property
    def room(self) -> int:
        """How many more messages fit in the queue now."""
        return self.queue.maxsize - self.queue.qsize()

    @property
    def undelivered(self) -> int:
        """Messages that will never be sent once a slow subscriber is closed."""
        return self._refused + self.queue.qsize()

    async def wait_slow(self) -> None:
        """Return once the subscriber is slow."""
        await self._slow.wait()

    def offer(self, text: str) -> bool:
        """Queue one message without waiting; False (and slow) when it does not fit."""
        if self._slow.is_set():
            self._refused += 1
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._refused += 1
            self._slow.set()
            return False
        return True

    def _deliver(self, event: StreamEvent) -> bool:
        held = self._held.get(event.channel)
        if held is None:
            return self.offer(event.wire)
        if len(held) >= self.queue.maxsize:
            self._refused += 1
            self._slow.set()
            return False
        held.append(event)
        return True

    def _release(self, channel: str, snapshot: SnapshotMessage) -> None:
        held = self._held.pop(channel, None)
        if held is None:  # unsubscribed or dropped while the snapshot was being taken
            return
        self.offer(wire(snapshot))
        for event in held:
            if event.seq > snapshot.seq:
                self.offer(event.wire)


@dataclasses.dataclass(slots=True)
class _ChannelState:
    channel: Channel
    ring: deque[StreamEvent]
    seq: int = 0
    subscribers: dict[Subscriber, None] = dataclasses.field(default_factory=dict)


class EventBus:
    """Channels of numbered events, their recent history, and the subscribers.

    Args:
        history: Events kept per channel for resuming (``since``).
        snapshots: Where snapshots come from; replace it later with the attribute of the
            same name (the composition root plugs in the database-backed source).
        clock: The time of events published without ``at``, and of heartbeats.
        snapshot_timeout_s: How long one snapshot may take before it counts as failed.
    """

    def __init__(
        self,
        *,
        history: int = DEFAULT_HISTORY,
        snapshots: SnapshotSource | None = None,
        clock: Clock | None = None,
        snapshot_timeout_s: float = 10.0,
    ) -> None:
        if history < 0:
            raise ValueError("history cannot be negative")
        self.snapshots: SnapshotSource = snapshots or no_snapshot
        self.clock: Clock = clock or SystemClock()
        self.epoch = uuid.uuid4().hex[:16]
        """Changes on every start: seqs of another epoch mean nothing here."""
        self._history = history
        self._snapshot_timeout_s = snapshot_timeout_s
        self._channels: dict[str, _ChannelState] = {}

    def publish(
        self, channel: str, event: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> StreamEvent:
        """Number an event, remember it and queue it for every subscriber of the channel.

        Synchronous and never waits. A subscriber whose queue is full is dropped (its
        connection closes as too slow) and never affects the publisher or other subscribers.

        Args:
            channel: ``account.{id}.{topic}`` or ``market.{SYMBOL}.{interval}``.
            event: The event name (see :mod:`app.streaming.channels`).
            data: The payload; Decimal, datetime, UUID and Enum values become JSON values.
            at: When it happened (timezone-aware); defaults to now.

        Returns:
            The event with its seq.

        Raises:
            InvalidChannel: The channel name matches no channel pattern.
            InvalidEvent: The channel does not carry this event name.
            TypeError: ``data`` holds a value with no JSON form.
            ValueError: ``at`` is naive.
        """
        state = self._state(channel)
        check_event(state.channel, event)
        if at is not None and at.utcoffset() is None:
            raise ValueError("'at' must be timezone-aware")
        payload = {_key(k): _json_safe(v) for k, v in data.items()}
        state.seq += 1
        item = StreamEvent(channel, state.seq, event, at or self.clock.now(), payload)
        state.ring.append(item)
        for subscriber in tuple(state.subscribers):
            if not subscriber._deliver(item):
                self.unsubscribe(subscriber)
        return item

    def current_seq(self, channel: str) -> int:
        """The seq of the channel's last event (0 before the first)."""
        state = self._channels.get(channel)
        return state.seq if state else 0

    def since(self, channel: str, seq: int) -> list[StreamEvent] | None:
        """Every event after ``seq``, oldest first; None when some are no longer held.

        None too when ``seq`` is ahead of the channel (seqs of an earlier run).
        """
        current = self.current_seq(channel)
        if seq < 0 or seq > current:
            return None
        if seq == current:
            return []
        ring = self._channels[channel].ring
        first = ring[0].seq if ring else current + 1
        if seq + 1 < first:
            return None
        return list(islice(ring, seq + 1 - first, None))

    def subscriber_count(self, channel: str) -> int:
        """How many subscribers the channel has now."""
        state = self._channels.get(channel)
        return len(state.subscribers) if state else 0

    async def subscribe(
        self,
        subscriber: Subscriber,
        channel: str,
        *,
        since_seq: int | None = None,
        epoch: str | None = None,
    ) -> None:
        """Subscribe to a channel: missed events, or a snapshot, then live events.

        With ``since_seq`` (and ``epoch`` absent or this bus's) and every later event still
        held, those events are queued and no snapshot. Otherwise a snapshot (``resync`` when
        ``since_seq`` was given) is queued, then every event after its seq: the subscription
        is registered before the snapshot is taken and events published meanwhile are held,
        so there are no gaps and no duplicates. A channel already subscribed is left as is.

        Raises:
            InvalidChannel: The channel name matches no channel pattern.
            SnapshotUnavailable: The snapshot source failed or took longer than
                ``snapshot_timeout_s``; the channel is not subscribed.
        """
        state = self._state(channel)
        if subscriber in state.subscribers:
            return
        missed = None
        if since_seq is not None and epoch in (None, self.epoch):
            missed = self.since(channel, since_seq)
        # Missed events that would overflow the queue get a snapshot instead of a drop.
        if missed is not None and len(missed) <= subscriber.room:
            for event in missed:
                subscriber.offer(event.wire)
            self._register(subscriber, state)
            return
        subscriber._held[channel] = []
        self._register(subscriber, state)
        seq = state.seq
        try:
            async with asyncio.timeout(self._snapshot_timeout_s):
                data = _json_safe(await self.snapshots(channel))
        # The source is a plug-in (database queries): whatever it raises, this channel
        # fails alone, the connection goes on, and the client learns nothing internal.
        except Exception as exc:
            # An outage is one line per subscribe, not a traceback each (the cause is known).
            trace = None if isinstance(exc, DatabaseUnavailable) else exc
            logger.warning("snapshot of %s failed: %s", channel, exc, exc_info=trace)
            self.unsubscribe(subscriber, [channel])
            raise SnapshotUnavailable(f"the snapshot of {channel} is unavailable") from exc
        snapshot = SnapshotMessage(
            channel=channel, seq=seq, data=data, resync=since_seq is not None
        )
        subscriber._release(channel, snapshot)

    def unsubscribe(self, subscriber: Subscriber, channels: Iterable[str] | None = None) -> None:
        """Stop delivering these channels (all of them when None) to the subscriber."""
        for channel in list(subscriber.channels if channels is None else channels):
            subscriber.channels.discard(channel)
            subscriber._held.pop(channel, None)
            state = self._channels.get(channel)
            if state is None:
                continue
            state.subscribers.pop(subscriber, None)
            if state.seq == 0 and not state.subscribers:
                del self._channels[channel]  # nothing to remember about a silent channel

    def _register(self, subscriber: Subscriber, state: _ChannelState) -> None:
        state.subscribers[subscriber] = None
        subscriber.channels.add(state.channel.name)

    def _state(self, channel: str) -> _ChannelState:
        state = self._channels.get(channel)
        if state is None:
            state = _ChannelState(parse_channel(channel), deque(maxlen=self._history))
            self._channels[channel] = state
        return state
