"""The HTTP front: paths under ``/api/v1``, bearer auth, and the chat request pipeline.

A chat request is recorded, then checked in this order: bearer key (401), JSON body (400),
body validation (400, see ``_request``), model routing (400/404, see ``_routing``), credits
(402, see ``_ledger``). Only a request that passes all of them takes the next scripted reply
(or ``default_reply``), so a rejected request leaves the script untouched. ``GET /models``
needs no key (a wrong one is ignored); ``/key``, ``/auth/key``, ``/credits`` and
``/generation`` need a valid one. Unknown paths answer a 404 envelope, known paths with
another method a 405 envelope.
"""

import asyncio
import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from ._catalogue import Catalogue, filter_models, model_json
from ._chat import JSON, ChatResponder, Outbox, Turn
from ._ledger import Ledger
from ._replies import Reply
from ._request import ChatRequest, validate_body
from ._routing import route
from ._wire import (
    ApiError,
    Json,
    encode,
    estimate_prompt_tokens,
    generation_id,
)

API_PREFIX = "/api/v1"
MISSING_AUTH = "Missing Authentication header"
UNKNOWN_KEY = "User not found."
NO_SCRIPTED_REPLY = "fake OpenRouter: the script is empty and default_reply is None"
_GET_PATHS = ("/models", "/key", "/auth/key", "/credits", "/generation")


@dataclass
class RecordedCall:
    """Any HTTP request the fake answered (chat requests also appear in ``requests``)."""

    method: str
    path: str
    query: str
    status: int | None = None


def empty_json_reply(request: ChatRequest) -> Reply:
    """The initial ``default_reply``: the JSON document ``{}``."""
    return Reply.content("{}")


class HttpFront:
    """ASGI handler of every request."""

    def __init__(
        self,
        api_keys: Sequence[str],
        catalogue: Catalogue,
        ledger: Ledger,
        now: Callable[[], datetime],
        stopping: asyncio.Event,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.catalogue = catalogue
        self.ledger = ledger
        self.now = now
        self.responder = ChatResponder(catalogue, ledger, now, stopping)
        self.replies: deque[Reply] = deque()
        self.default_reply: Callable[[ChatRequest], Reply] | None = empty_json_reply
        self.requests: list[ChatRequest] = []
        self.calls: list[RecordedCall] = []
        self.generation_not_ready_polls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        method: str = scope["method"]
        path: str = scope["path"]
        call = RecordedCall(method, path, scope["query_string"].decode("latin-1"))
        self.calls.append(call)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        local = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else None
        if method == "POST" and local == "/chat/completions":
            record = ChatRequest({}, headers, (await request.body()).decode("utf-8", "replace"))
            self.requests.append(record)
            await self._chat(record, send)
            call.status = record.status
            return
        try:
            status, payload = self._get(method, local, request, headers)
        except ApiError as exc:
            status, payload = exc.status, exc.envelope()
        call.status = status
        await _send_json(send, status, payload, {})

    # -- GET endpoints ------------------------------------------------------------------

    def _get(
        self, method: str, local: str | None, request: Request, headers: dict[str, str]
    ) -> tuple[int, Json]:
        if local not in _GET_PATHS and local != "/chat/completions":
            raise ApiError(404, "Not Found", authenticated=False)
        if method != "GET" or local == "/chat/completions":
            raise ApiError(405, f"Method {method} not allowed", authenticated=False)
        if local == "/models":
            return 200, self._models(request)
        key = self._authenticate(headers)
        if local == "/credits":
            raise ApiError(403, "Only management keys can perform this operation")
        if local == "/generation":
            return self._generation(request)
        return 200, {"data": self.ledger.key_json(key)}

    def _models(self, request: Request) -> Json:
        query = request.query_params
        wanted = query.get("supported_parameters", "").split(",")
        models = filter_models(self.catalogue.models, (w.strip() for w in wanted))
        offset = _int_param(query.get("offset"), "offset", 0, 0, None)
        limit = _int_param(query.get("limit"), "limit", len(models), 1, 1000)
        page = models[offset : offset + limit]
        after = offset + limit
        following = None
        if after < len(models) and "limit" in query:
            following = str(request.url.include_query_params(offset=after))
        return {
            "data": [model_json(m) for m in page],
            "total_count": len(models),
            "links": {"next": following},
        }

    def _generation(self, request: Request) -> tuple[int, Json]:
        gen_id = request.query_params.get("id")
        if not gen_id:
            raise ApiError(400, "id: required query parameter")
        generation = self.ledger.generations.get(gen_id)
        if generation is None:
            raise ApiError(404, f"Generation {gen_id} not found")
        generation.polls += 1
        if generation.polls <= self.generation_not_ready_polls:
            raise ApiError(404, f"Generation {gen_id} not found")
        return 200, {"data": generation.json()}

    def _authenticate(self, headers: dict[str, str]) -> str:
        """The bearer key of the request, or a 401 ``ApiError``."""
        value = headers.get("authorization")
        if not value:
            raise ApiError(401, MISSING_AUTH, authenticated=False)
        scheme, _, key = value.partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.api_keys:
            raise ApiError(401, UNKNOWN_KEY, authenticated=False)
        return key.strip()

    # -- chat ---------------------------------------------------------------------------

    async def _chat(self, record: ChatRequest, send: Send) -> None:
        out = Outbox(send, record)
        try:
            turn = self._admit(record)
            reply = self._next_reply(record)
        except ApiError as exc:
            await out.finish((exc.status, exc.headers, encode(exc.envelope()), JSON))
            return
        await self.responder.deliver(reply, turn, out)

    def _admit(self, record: ChatRequest) -> Turn:
        """Authenticate, parse, validate, route and check credits (``ApiError`` if not)."""
        parsed = _parse_object(record.raw_body)
        if parsed is not None:
            record.body = parsed
        self._authenticate(record.headers)
        if parsed is None:
            raise ApiError(400, "Invalid JSON body: expected a JSON object")
        validate_body(parsed)
        chosen = route(parsed, self.catalogue, self.now().date())
        prompt_tokens = estimate_prompt_tokens(parsed)
        self.ledger.check_affordable(chosen.model, prompt_tokens, record.max_tokens)
        record.served_model = chosen.model.id
        record.dropped_parameters = chosen.dropped
        created = int(self.now().timestamp())
        return Turn(record, chosen, prompt_tokens, generation_id(created))

    def _next_reply(self, record: ChatRequest) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if self.default_reply is None:
            raise ApiError(500, NO_SCRIPTED_REPLY)
        return self.default_reply(record)


def _parse_object(raw: str) -> Json | None:
    try:
        value: Any = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int_param(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ApiError(400, f"{name}: expected an integer {bound}")
    return value


async def _send_json(send: Send, status: int, payload: Json, headers: dict[str, str]) -> None:
    content = encode(payload)
    pairs = [(b"content-type", JSON.encode()), (b"content-length", str(len(content)).encode())]
    pairs += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": content, "more_body": False})
