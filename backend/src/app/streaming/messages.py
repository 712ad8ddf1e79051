"""The JSON messages of ``/ws``, both ways, as Pydantic unions discriminated on ``type``.

Client to server: ``auth``, ``subscribe``, ``unsubscribe``, ``ping``
(:data:`CLIENT_MESSAGES` parses them). Server to client: ``event``, ``snapshot``,
``subscribed``, ``unsubscribed``, ``error``, ``pong``, ``heartbeat`` and ``closing``
(:data:`SERVER_MESSAGES` parses them, for clients and tests). docs/websocket.md has examples.
"""

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, TypeAdapter

MAX_CHANNELS_PER_MESSAGE: Final = 100

ChannelName = Annotated[str, Field(min_length=1, max_length=128)]


class _Message(BaseModel):
    # A misspelt field (`sinceSeq`) should be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthMessage(_Message):
    """The first message when the upgrade request had no ``Authorization`` header."""

    type: Literal["auth"]
    token: str = Field(max_length=1024, repr=False)


class SubscribeMessage(_Message):
    """Subscribe to channels; ``since_seq`` resumes a channel after that seq.

    ``epoch`` is the ``subscribed.epoch`` the client saw before: when the server has restarted
    since (a different epoch), its seqs started again at 1, so ``since_seq`` is ignored and the
    channel gets a snapshot with ``resync: true``.
    """

    type: Literal["subscribe"]
    channels: list[ChannelName] = Field(min_length=1, max_length=MAX_CHANNELS_PER_MESSAGE)
    since_seq: dict[ChannelName, NonNegativeInt] | None = Field(
        default=None, max_length=MAX_CHANNELS_PER_MESSAGE
    )
    epoch: str | None = Field(default=None, max_length=64)


class UnsubscribeMessage(_Message):
    """Stop the events of these channels (none arrive after the ``unsubscribed`` reply)."""

    type: Literal["unsubscribe"]
    channels: list[ChannelName] = Field(min_length=1, max_length=MAX_CHANNELS_PER_MESSAGE)


class PingMessage(_Message):
    """Answered with ``pong``."""

    type: Literal["ping"]


ClientMessage = Annotated[
    AuthMessage | SubscribeMessage | UnsubscribeMessage | PingMessage, Field(discriminator="type")
]
CLIENT_MESSAGES: Final[TypeAdapter[ClientMessage]] = TypeAdapter(ClientMessage)


class EventMessage(_Message):
    """One event of a channel; ``seq`` starts at 1 and grows by exactly 1 per channel."""

    type: Literal["event"] = "event"
    channel: str
    seq: int
    event: str
    at: datetime
    data: dict[str, Any]


class SnapshotMessage(_Message):
    """The channel's current state; the events that follow have ``seq`` above this one.

    ``resync`` is true when the client asked to resume (``since_seq``) but the server no
    longer holds every event after it, so the client must replace its state with this one.
    """

    type: Literal["snapshot"] = "snapshot"
    channel: str
    seq: int
    data: Any
    resync: bool = False


class SubscribedMessage(_Message):
    """The channels of a ``subscribe`` that were accepted (the others got an ``error``)."""

    type: Literal["subscribed"] = "subscribed"
    channels: list[str]
    epoch: str


class UnsubscribedMessage(_Message):
    """Reply to ``unsubscribe``."""

    type: Literal["unsubscribed"] = "unsubscribed"
    channels: list[str]


class ErrorMessage(_Message):
    """A problem with a message or a channel: the REST error shape plus ``type``.

    ``channel`` names the channel concerned, when there is one. The connection stays open
    unless a ``closing`` message follows.
    """

    type: Literal["error"] = "error"
    error: str
    detail: str
    channel: str | None = None


class PongMessage(_Message):
    """Reply to ``ping``."""

    type: Literal["pong"] = "pong"


class HeartbeatMessage(_Message):
    """Sent every ``heartbeat_s`` so a client can tell a quiet stream from a dead one."""

    type: Literal["heartbeat"] = "heartbeat"
    at: datetime


class ClosingMessage(_Message):
    """The last message before the server closes the connection on purpose."""

    type: Literal["closing"] = "closing"
    reason: str


ServerMessage = Annotated[
    EventMessage
    | SnapshotMessage
    | SubscribedMessage
    | UnsubscribedMessage
    | ErrorMessage
    | PongMessage
    | HeartbeatMessage
    | ClosingMessage,
    Field(discriminator="type"),
]
SERVER_MESSAGES: Final[TypeAdapter[ServerMessage]] = TypeAdapter(ServerMessage)


def wire(message: BaseModel) -> str:
    """The JSON text of a server message (``error.channel`` only when set)."""
    return message.model_dump_json(exclude_none=isinstance(message, ErrorMessage))
