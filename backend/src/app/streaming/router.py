"""``/ws``: the event stream over a WebSocket (protocol: docs/websocket.md).

Options come from the :func:`get_stream_options` dependency (tests override it); snapshots
come from ``container.bus.snapshots``.
"""

from functools import partial
from typing import Annotated, cast

from fastapi import APIRouter, Depends, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected

from app.api.auth import token_role
from app.api.deps import ContainerDep
from app.streaming.session import StreamOptions, StreamSession, TransportClosed

router = APIRouter()


async def get_stream_options() -> StreamOptions:
    """Heartbeat, auth timeout and queue size of every connection (the defaults)."""
    return StreamOptions()


class _WebSocketTransport:
    """Starlette's WebSocket as a session :class:`~app.streaming.session.Transport`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._websocket.receive()
        except WebSocketDisconnected:
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        return text if text is not None else cast(bytes, message.get("bytes") or b"")

    async def send(self, text: str) -> None:
        try:
            await self._websocket.send_text(text)
        except (WebSocketDisconnect, WebSocketDisconnected) as exc:
            raise TransportClosed from exc

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._websocket.close(code, reason)
        except (WebSocketDisconnect, WebSocketDisconnected) as exc:
            raise TransportClosed from exc


def _bearer(authorization: str | None) -> str | None:
    # A header that is there but malformed is a wrong token, not a missing one.
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.websocket("/ws", name="event_stream")
async def event_stream(
    websocket: WebSocket,
    container: ContainerDep,
    options: Annotated[StreamOptions, Depends(get_stream_options)],
) -> None:
    """Stream account and market events; see docs/websocket.md."""
    # Accept first: close codes (4401) and error messages only exist on an open WebSocket.
    await websocket.accept()
    session = StreamSession(
        _WebSocketTransport(websocket),
        container.bus,
        authenticate=partial(token_role, container),
        known_accounts=[account.id for account in container.settings.accounts],
        options=options,
    )
    await session.run(_bearer(websocket.headers.get("authorization")))
