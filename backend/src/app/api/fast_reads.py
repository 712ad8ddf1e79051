"""The hot read path: a cached answer goes out before routing, for a valid token only.

Dashboards poll positions and list pages many times per cycle. When the
:class:`~app.api.read_cache.ReadCache` holds a current answer for exactly this request and
the bearer token is valid (read or full), this ASGI middleware sends it directly; anything
else (no token, a wrong one, a miss, another route) goes through FastAPI as usual, which
also fills the cache. The same token check and the same bytes either way.
"""

import re
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.auth import token_role
from app.api.read_cache import ReadCache, cache_key
from app.runtime.container import Container

CACHEABLE: Final = re.compile(
    r"^/api/v1/accounts/(?P<account>[A-Za-z0-9][A-Za-z0-9-]{0,31})"
    r"/(?:positions|orders|fills|decisions)$"
)
_BEARER: Final = b"bearer "


class FastReads:
    """ASGI middleware answering cached reads without routing."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the cached answer when there is one for this request, else pass it on."""
        body = self._cached(scope) if scope["type"] == "http" else None
        if body is None:
            await self._app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _cached(scope: Scope) -> bytes | None:
        if scope["method"] != "GET":
            return None
        match = CACHEABLE.match(scope["path"])
        state = scope.get("state", {})
        container, cache = state.get("container"), state.get("read_cache")
        if match is None or not isinstance(container, Container):
            return None
        if not isinstance(cache, ReadCache):
            return None
        token = _bearer_token(scope)
        if token is None or token_role(container, token) is None:
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        return cache.get(match["account"], cache_key(scope["path"], query))


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == _BEARER:
            token: str = value[7:].decode("latin-1").strip()
            return token
    return None
