"""The API's edge: who may call and how much they may send, decided before any routing.

Two pure ASGI middlewares, in front of every route (:func:`app.main.create_app`):

* :class:`RequireToken` authenticates ``/api/v1`` from the headers alone: no body is read, no
  parameter validated and no account looked up before the token is known to be good, so an
  anonymous caller learns nothing (an unknown account answers the same 401 as a real one)
  and cannot make the service buffer anything. ``GET`` needs any valid token, everything
  else the full one. The route dependencies of :mod:`app.api.auth` check again.
* :class:`LimitBody` refuses a body over ``API_MAX_BODY_BYTES`` with 413 ``body_too_large``:
  at once when ``Content-Length`` says so, else as soon as a streamed (chunked) body grows
  past the cap, holding at most the cap in memory.

Both answer in the one error shape, ``{"error": code, "detail": message}``.
"""

from typing import Final

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import Forbidden, NotAuthenticated, token_role
from app.core.errors import AppError
from app.runtime.container import Container

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
"""The cap when no container is bound (``API_MAX_BODY_BYTES`` defaults to the same)."""

_READ_METHODS: Final = frozenset({"GET", "HEAD"})
_BEARER: Final = "bearer "


class BodyTooLarge(AppError):
    """The request body is larger than ``API_MAX_BODY_BYTES``."""

    status_code = 413
    code = "body_too_large"


def _container(scope: Scope) -> Container | None:
    container = scope.get("state", {}).get("container")
    return container if isinstance(container, Container) else None


async def _refuse(error: AppError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        status_code=error.status_code, content={"error": error.code, "detail": error.detail}
    )
    await response(scope, receive, send)


def _is_api(path: str) -> bool:
    return path == "/api/v1" or path.startswith("/api/v1/")


def _refusal(container: Container, method: str, authorization: str | None) -> AppError | None:
    """Why this request may not go on (401 or 403), None when its token allows it."""
    if authorization is None or authorization[:7].lower() != _BEARER:
        return NotAuthenticated("send 'Authorization: Bearer <token>'")
    role = token_role(container, authorization[7:].strip())
    if role is None:
        return NotAuthenticated("the token is not valid")
    if role != "full" and method not in _READ_METHODS:
        return Forbidden("this token may only read")
    return None


class RequireToken:
    """ASGI middleware: ``/api/v1`` requests without an acceptable token end here (401/403)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request from its headers, or pass it on untouched."""
        container = _container(scope) if scope["type"] == "http" else None
        if container is not None and _is_api(scope["path"]):
            authorization = Headers(scope=scope).get("authorization")
            refusal = _refusal(container, scope["method"], authorization)
            if refusal is not None:
                await _refuse(refusal, scope, receive, send)
                return
        await self._app(scope, receive, send)


class LimitBody:
    """ASGI middleware: request bodies over the cap answer 413 and are never held whole."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body (at most the cap), then hand it to the app; refuse it past the cap."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            await self._app(scope, receive, send)  # HTTP/1.1: no body at all
            return
        container = _container(scope)
        limit = container.settings.api.max_body_bytes if container else DEFAULT_MAX_BODY_BYTES
        too_large = BodyTooLarge(f"the request body is larger than {limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(too_large, scope, receive, send)
            return
        try:
            body = await _read_at_most(receive, limit)
        except _ClientGone:
            return  # the client left while sending: there is no one to answer
        if body is None:
            await _refuse(too_large, scope, receive, send)
            return
        await self._app(scope, _replay(body, receive), send)


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past ``limit``.

    Raises:
        _ClientGone: The client disconnected first (a cut body must never reach a route,
            which would take it for no body at all).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read already, then the real channel."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
