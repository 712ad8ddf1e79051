"""WebSocket endpoints: market streams and user data streams (spec §6).

Paths: ``/ws/<stream>`` (raw payloads), ``/ws`` (no stream yet; SUBSCRIBE later),
``/stream?streams=a/b`` and ``/stream`` (combined: ``{"stream": name, "data": payload}``).
A stream name is a market stream (lowercase symbol) or an active listen key. Names with an
unknown shape, an upper-case symbol or an expired/unknown listen key are refused: in a URL the
handshake is rejected (HTTP 403), in SUBSCRIBE the reply is ``{"code": 2, "msg": ..., "id": n}``.
While ``refuse_user_data`` is set (a test hook) every listen key is refused that way, so a
user-data stream that was dropped stays down.

Only ``<symbol>@kline_<interval>``, ``<symbol>@markPrice[@1s]`` and ``!markPrice@arr[@1s]`` carry
data (pushed when a bar closes; klines only as closed bars, ``x`` true), plus user data events.
Other documented market streams are accepted and stay silent.

Each connection has a reader (control messages) and a sender draining a bounded queue; a
consumer that lets 10 000 messages pile up is cut off.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ._market import INTERVAL_MS, UNSERVED_INTERVALS

_INTERVALS = "|".join(sorted({*INTERVAL_MS, *UNSERVED_INTERVALS}, key=len, reverse=True))
_MARKET_STREAM_RE = re.compile(
    r"^[a-z0-9]+@("
    rf"kline_({_INTERVALS})|markPrice(@1s)?|aggTrade|bookTicker|miniTicker|ticker|forceOrder"
    r"|tradepro|depth(5|10|20)?(@500ms|@100ms)?)$"
    r"|^!(markPrice@arr(@1s)?|bookTicker|miniTicker@arr|ticker@arr|forceOrder@arr)$"
)
QUEUE_LIMIT = 10_000
Json = dict[str, Any]


@dataclass(eq=False)
class _Connection:
    websocket: WebSocket
    combined: bool
    streams: list[str] = field(default_factory=list)
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    closing: bool = False

    def push(self, text: str | None) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            abort_transport(self.websocket)


def abort_transport(websocket: WebSocket) -> None:
    """Drop the TCP connection under ``websocket`` without a close frame.

    The server is uvicorn, whose ASGI ``send`` is a method of the protocol object that owns the
    transport; reaching it is the only way an ASGI app can cut a connection abruptly.
    """
    protocol = getattr(websocket._send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.abort()


class StreamHub:
    """Every open WebSocket and what it subscribed to."""

    def __init__(self, listen_key_active: Callable[[str], bool]) -> None:
        self._listen_key_active = listen_key_active
        self.refuse_user_data = False
        """Test hook: refuse every listen key (handshake and SUBSCRIBE) while set."""
        self._connections: set[_Connection] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- publishing ---------------------------------------------------------------------------

    def subscribed(self) -> set[str]:
        """All stream names some connection listens to."""
        return {name for conn in self._connections for name in conn.streams}

    def publish(self, stream: str, payload: object) -> None:
        """Send ``payload`` to every connection subscribed to ``stream``."""
        raw = combined = None
        for conn in self._connections:
            if stream not in conn.streams or conn.closing:
                continue
            if conn.combined:
                combined = combined or json.dumps(
                    {"stream": stream, "data": payload}, separators=(",", ":")
                )
                conn.push(combined)
            else:
                raw = raw or json.dumps(payload, separators=(",", ":"))
                conn.push(raw)

    # -- lifecycle ----------------------------------------------------------------------------

    async def close_all(self, timeout_s: float = 2.0) -> None:
        """Close every connection with 1001 (going away); abort those that do not finish."""
        for conn in self._connections:
            conn.closing = True
            conn.push(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        await self.drop_all()

    async def drop_all(self, timeout_s: float = 2.0) -> None:
        """Abort every connection's TCP stream and wait until their handlers have ended."""
        for conn in self._connections:
            abort_transport(conn.websocket)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)

    def valid_name(self, name: str) -> bool:
        """Whether ``name`` is a stream this server knows (and serves now)."""
        if _MARKET_STREAM_RE.match(name):
            return True
        return not self.refuse_user_data and self._listen_key_active(name)

    # -- one connection -----------------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point for a WebSocket connection."""
        websocket = WebSocket(scope, receive, send)
        path = scope["path"].rstrip("/")
        if path == "/ws":
            conn = _Connection(websocket, combined=False)
        elif path.startswith("/ws/"):
            conn = _Connection(websocket, combined=False, streams=[path.removeprefix("/ws/")])
        elif path == "/stream":
            names = websocket.query_params.get("streams", "")
            conn = _Connection(websocket, combined=True, streams=[n for n in names.split("/") if n])
        else:
            await websocket.close(code=1008)
            return
        if not all(self.valid_name(name) for name in conn.streams):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        self._connections.add(conn)
        self._idle.clear()
        try:
            await self._run(conn)
        finally:
            self._connections.discard(conn)
            if not self._connections:
                self._idle.set()

    async def _run(self, conn: _Connection) -> None:
        sender = asyncio.create_task(self._send_loop(conn))
        try:
            await self._read_loop(conn)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send_loop(self, conn: _Connection) -> None:
        websocket = conn.websocket
        try:
            while True:
                text = await conn.queue.get()
                if text is None:
                    await websocket.close(code=1001)
                    return
                await websocket.send_text(text)
        except (OSError, RuntimeError, WebSocketDisconnect):
            # The peer went away mid-send; the reader sees the disconnect and ends the handler.
            abort_transport(websocket)

    async def _read_loop(self, conn: _Connection) -> None:
        websocket = conn.websocket
        while websocket.client_state != WebSocketState.DISCONNECTED:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                continue
            reply = self._control(conn, text)
            if reply is not None:
                conn.push(json.dumps(reply, separators=(",", ":")))

    def _control(self, conn: _Connection, text: str) -> Json | None:
        try:
            request = json.loads(text)
        except ValueError:
            return {"code": 3, "msg": "Invalid JSON: expected a JSON object"}
        if not isinstance(request, dict):
            return {"code": 3, "msg": "Invalid JSON: expected a JSON object"}
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(request_id, int) or isinstance(request_id, bool) or request_id < 0:
            return {"code": 2, "msg": "Invalid request: 'id' must be an unsigned integer"}
        if not isinstance(params, list):
            return {"code": 2, "msg": "Invalid request: 'params' must be a list", "id": request_id}
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return self._subscription(conn, method, params, request_id)
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": request_id}
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return self._property(conn, method, params, request_id)
        return {"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": request_id}

    def _subscription(
        self, conn: _Connection, method: str, params: list[object], request_id: int
    ) -> Json:
        names = [name for name in params if isinstance(name, str)]
        if len(names) != len(params) or (
            method == "SUBSCRIBE" and not all(self.valid_name(n) for n in names)
        ):
            return {"code": 2, "msg": "Invalid request: invalid stream name", "id": request_id}
        for name in names:
            if method == "SUBSCRIBE" and name not in conn.streams:
                conn.streams.append(name)
            elif method == "UNSUBSCRIBE" and name in conn.streams:
                conn.streams.remove(name)
        return {"result": None, "id": request_id}

    @staticmethod
    def _property(conn: _Connection, method: str, params: list[object], request_id: int) -> Json:
        if not params or params[0] != "combined":
            return {"code": 0, "msg": "Unknown property", "id": request_id}
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": request_id}
        if len(params) != 2 or not isinstance(params[1], bool):
            return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": request_id}
        conn.combined = params[1]
        return {"result": None, "id": request_id}
