"""One ``/ws`` connection: authentication, then a reader, a sender and a heartbeat.

The session speaks to a :class:`Transport` (the router adapts Starlette's WebSocket to it),
so it needs no web framework. After authentication four tasks run in a TaskGroup:

* the reader parses client messages and answers through the subscriber's queue;
* the sender drains that bounded queue to the socket (the only task that writes);
* the heartbeat queues ``heartbeat`` every ``heartbeat_s``;
* the watchdog ends the group when the subscriber turns slow (its queue overflowed).

Whichever ends first (client gone, socket error, slow) ends the others.
"""

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final, Protocol

from pydantic import BaseModel, ValidationError

from app.streaming.bus import EventBus, SnapshotUnavailable, Subscriber
from app.streaming.channels import InvalidChannel, parse_channel
from app.streaming.messages import (
    CLIENT_MESSAGES,
    AuthMessage,
    ClientMessage,
    ClosingMessage,
    ErrorMessage,
    HeartbeatMessage,
    PingMessage,
    PongMessage,
    SubscribedMessage,
    SubscribeMessage,
    UnsubscribedMessage,
    UnsubscribeMessage,
    wire,
)

logger = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED: Final = 4401
CLOSE_TOO_SLOW: Final = 4008

Authenticate = Callable[[str], str | None]
"""Maps a token to its role, or None when it is not valid (compares in constant time).

Every role may use the stream: it only reads.
"""

_AUTH_HINT: Final = """send 'Authorization: Bearer <token>' or {"type": "auth", "token": ...}"""


class TransportClosed(Exception):
    """The connection is gone: nothing more can be sent."""


class Transport(Protocol):
    """A WebSocket as the session sees it."""

    async def receive(self) -> str | bytes | None:
        """Wait for the next client message; None once the client has gone."""
        ...

    async def send(self, text: str) -> None:
        """Send one text message.

        Raises:
            TransportClosed: The connection is gone.
        """
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with this code.

        Raises:
            TransportClosed: The connection is already gone.
        """
        ...


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Per-connection limits and timings.

    Attributes:
        heartbeat_s: Seconds between ``heartbeat`` messages.
        auth_timeout_s: How long a connection without an ``Authorization`` header may take
            to send its ``auth`` message.
        send_queue: Messages that may wait for a slow socket before the client is dropped.
        close_timeout_s: How long closing (and its last messages) may take on a stuck socket.
        max_channels: Channels one connection may subscribe to.
    """

    heartbeat_s: float = 20.0
    auth_timeout_s: float = 10.0
    send_queue: int = 1000
    close_timeout_s: float = 5.0
    max_channels: int = 200


class _ClientGone(Exception):
    pass


class _TooSlow(Exception):
    pass


def parse_client_message(raw: str | bytes) -> ClientMessage | ErrorMessage:
    """Parse one client message, or describe why it is not one (never echoing its content)."""
    try:
        return CLIENT_MESSAGES.validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(error["type"] == "json_invalid" for error in errors):
            return ErrorMessage(error="invalid_json", detail="the message is not valid JSON")
        problems = []
        for error in errors:
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                problems.append("'type' must be one of auth, subscribe, unsubscribe, ping")
            else:
                where = ".".join(str(part) for part in error["loc"])
                problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        return ErrorMessage(error="invalid_message", detail="; ".join(problems))


class StreamSession:
    """Serves one accepted WebSocket until it closes.

    Args:
        transport: The accepted connection.
        bus: Where events come from.
        authenticate: Token -> role (or None).
        known_accounts: Account ids whose channels exist.
        options: Limits and timings.
    """

    def __init__(
        self,
        transport: Transport,
        bus: EventBus,
        *,
        authenticate: Authenticate,
        known_accounts: Collection[str],
        options: StreamOptions,
    ) -> None:
        self._transport = transport
        self._bus = bus
        self._authenticate = authenticate
        self._accounts = frozenset(known_accounts)
        self._options = options

    async def run(self, header_token: str | None) -> None:
        """Authenticate (by header token, else the first message), then stream until closed.

        Args:
            header_token: The upgrade request's bearer token; None when it had no header.
        """
        if await self._login(header_token) is None:
            return
        subscriber = Subscriber(self._options.send_queue)
        slow = False
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._read(subscriber))
                tasks.create_task(self._send(subscriber))
                tasks.create_task(self._beat(subscriber))
                tasks.create_task(self._watch(subscriber))
        except* (_ClientGone, TransportClosed):
            pass
        except* _TooSlow:
            slow = True
        finally:
            self._bus.unsubscribe(subscriber)
        if slow:
            reason = f"too slow: {subscriber.undelivered} events not delivered"
            logger.warning("closing a stream client: %s", reason)
            await self._close(CLOSE_TOO_SLOW, reason)

    async def _login(self, header_token: str | None) -> str | None:
        if header_token is None:
            try:
                async with asyncio.timeout(self._options.auth_timeout_s):
                    raw = await self._transport.receive()
            except TimeoutError:
                await self._refuse(f"{_AUTH_HINT} within {self._options.auth_timeout_s:g} s")
                return None
            if raw is None:
                return None
            message = parse_client_message(raw)
            if not isinstance(message, AuthMessage):
                await self._refuse(f"{_AUTH_HINT} first")
                return None
            header_token = message.token
        role = self._authenticate(header_token)
        if role is None:
            await self._refuse("the token is not valid")
        return role

    async def _refuse(self, detail: str) -> None:
        error = ErrorMessage(error="not_authenticated", detail=detail)
        await self._close(CLOSE_NOT_AUTHENTICATED, "not authenticated", wire(error))

    async def _close(self, code: int, reason: str, *before: str) -> None:
        # A stuck socket may never take these: give up after close_timeout_s; the server
        # then drops the connection when the handler returns.
        try:
            async with asyncio.timeout(self._options.close_timeout_s):
                for text in before:
                    await self._transport.send(text)
                await self._transport.send(wire(ClosingMessage(reason=reason)))
                await self._transport.close(code, reason)
        except (TimeoutError, TransportClosed):
            logger.info("stream client gone before the close (%s)", reason)

    async def _read(self, subscriber: Subscriber) -> None:
        while (raw := await self._transport.receive()) is not None:
            await self._handle(subscriber, parse_client_message(raw))
        raise _ClientGone

    async def _handle(self, subscriber: Subscriber, message: ClientMessage | ErrorMessage) -> None:
        reply: BaseModel
        match message:
            case SubscribeMessage():
                await self._subscribe(subscriber, message)
                return
            case UnsubscribeMessage():
                self._bus.unsubscribe(subscriber, message.channels)
                reply = UnsubscribedMessage(channels=list(dict.fromkeys(message.channels)))
            case PingMessage():
                reply = PongMessage()
            case AuthMessage():
                reply = ErrorMessage(error="invalid_message", detail="already authenticated")
            case ErrorMessage():
                reply = message
        subscriber.offer(wire(reply))

    async def _subscribe(self, subscriber: Subscriber, message: SubscribeMessage) -> None:
        accepted: list[str] = []
        for name in dict.fromkeys(message.channels):
            problem = self._check_channel(name)
            if problem is None:
                accepted.append(name)
            else:
                subscriber.offer(wire(problem))
        new = [name for name in accepted if name not in subscriber.channels]
        if len(subscriber.channels) + len(new) > self._options.max_channels:
            detail = f"a connection may subscribe to {self._options.max_channels} channels"
            subscriber.offer(wire(ErrorMessage(error="too_many_channels", detail=detail)))
            return
        subscriber.offer(wire(SubscribedMessage(channels=accepted, epoch=self._bus.epoch)))
        since = message.since_seq or {}
        for name in new:
            try:
                await self._bus.subscribe(
                    subscriber, name, since_seq=since.get(name), epoch=message.epoch
                )
            except SnapshotUnavailable as exc:
                error = ErrorMessage(error="snapshot_unavailable", detail=str(exc), channel=name)
                subscriber.offer(wire(error))

    def _check_channel(self, name: str) -> ErrorMessage | None:
        try:
            channel = parse_channel(name)
        except InvalidChannel as exc:
            return ErrorMessage(error="invalid_channel", detail=str(exc), channel=name)
        if channel.account_id is not None and channel.account_id not in self._accounts:
            known = ", ".join(sorted(self._accounts))
            detail = f"unknown account '{channel.account_id}'; this service has: {known}"
            return ErrorMessage(error="not_found", detail=detail, channel=name)
        return None

    async def _send(self, subscriber: Subscriber) -> None:
        while True:
            await self._transport.send(await subscriber.queue.get())

    async def _beat(self, subscriber: Subscriber) -> None:
        while True:
            await asyncio.sleep(self._options.heartbeat_s)
            subscriber.offer(wire(HeartbeatMessage(at=self._bus.clock.now())))

    async def _watch(self, subscriber: Subscriber) -> None:
        await subscriber.wait_slow()
        raise _TooSlow
