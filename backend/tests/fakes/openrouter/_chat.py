"""Answering one routed chat request with its scripted ``Reply`` (spec §3, §4.4, §5.3).

Replies that carry a completion (``content``, ``choice_error``, ``no_choices``) get a fresh
``gen-...`` id in the body and the ``X-Generation-Id`` header and are kept for
``GET /generation``. ``content`` is billed in full and ``no_choices`` for its prompt;
``choice_error`` is recorded but not billed. ``error``, ``error_in_200`` and ``raw`` answers
carry no generation id.
"""

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from starlette.types import Send

from ._catalogue import Catalogue, FakeModel
from ._ledger import Generation, Ledger
from ._replies import (
    ChoiceErrorReply,
    ContentReply,
    DelayReply,
    ErrorIn200Reply,
    ErrorReply,
    KeepAliveReply,
    NoChoicesReply,
    RawReply,
    Reply,
)
from ._request import ChatRequest
from ._routing import Route
from ._wire import (
    USER_ID,
    Json,
    Tokens,
    completion_json,
    encode,
    error_envelope,
    estimate_tokens,
    message_json,
    native_finish_reason,
)

JSON = "application/json"
RATE_LIMIT_PER_MINUTE = 20  # the free-model cap of spec §6.1, shown in X-RateLimit-Limit
Rendered = tuple[int, dict[str, str], bytes, str]


@dataclass
class Turn:
    """A chat request that reached a model: its record, route, prompt size and id."""

    record: ChatRequest
    route: Route
    prompt_tokens: int
    generation_id: str


class Outbox:
    """One HTTP response over raw ASGI: at once, or headers first and the body in pieces."""

    def __init__(self, send: Send, record: ChatRequest) -> None:
        self._send = send
        self._record = record
        self.started = False

    async def start(self, status: int, headers: dict[str, str], content_type: str) -> None:
        """Commit the status and headers."""
        pairs = [(b"content-type", content_type.encode("latin-1"))]
        pairs += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await self._send({"type": "http.response.start", "status": status, "headers": pairs})
        self._record.status = status
        self.started = True

    async def chunk(self, data: bytes) -> None:
        """Send part of the body."""
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self, rendered: Rendered) -> None:
        """Send the whole response (or, once started, the rest of the body)."""
        status, headers, content, content_type = rendered
        if not self.started:
            headers = {**headers, "content-length": str(len(content))}
            await self.start(status, headers, content_type)
        await self._send({"type": "http.response.body", "body": content, "more_body": False})


class ChatResponder:
    """Turns replies into responses and keeps the generations they produce."""

    def __init__(
        self,
        catalogue: Catalogue,
        ledger: Ledger,
        now: Callable[[], datetime],
        stopping: asyncio.Event,
    ) -> None:
        self.catalogue = catalogue
        self.ledger = ledger
        self.now = now
        self._stopping = stopping

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` of real time, cut short when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def deliver(self, reply: Reply, turn: Turn, out: Outbox) -> None:
        """Answer ``reply``, waiting and streaming blank lines as it says."""
        if isinstance(reply, DelayReply):
            await self.pause(reply.seconds)
            await self.deliver(reply.then, turn, out)
        elif isinstance(reply, KeepAliveReply):
            if not out.started:
                await out.start(200, {"X-Generation-Id": turn.generation_id}, JSON)
            for _ in range(reply.newlines):
                await self.pause(reply.interval_s)
                await out.chunk(b"\n")
            await self.deliver(reply.then, turn, out)
        else:
            await out.finish(self.render(reply, turn))

    def render(self, reply: Reply, turn: Turn) -> Rendered:
        """Status, headers, body and content type of a reply that answers at once."""
        match reply:
            case ContentReply():
                return self._content(reply, turn)
            case ChoiceErrorReply():
                return self._choice_error(reply, turn)
            case NoChoicesReply():
                return self._no_choices(turn)
            case ErrorReply():
                return self._error(reply)
            case ErrorIn200Reply():
                envelope = error_envelope(reply.code, reply.message, reply.metadata)
                return 200, {}, encode(envelope), JSON
            case RawReply():
                return reply.status, dict(reply.headers), reply.body.encode(), reply.content_type
        raise TypeError(f"not a reply that answers at once: {reply!r}")

    def _content(self, reply: ContentReply, turn: Turn) -> Rendered:
        model = self._served(reply.model, turn.route.model)
        reasoning = reply.reasoning_tokens
        if reasoning is None:
            reasoning = estimate_tokens(reply.reasoning) if reply.reasoning else 0
        completion = reply.completion_tokens
        if completion is None:
            completion = estimate_tokens(reply.text or "") + reasoning
        prompt = turn.prompt_tokens if reply.prompt_tokens is None else reply.prompt_tokens
        tokens = _tokens(model, prompt, completion, min(reasoning, completion))
        native = native_finish_reason(model, reply.finish_reason)
        choice = _choice(message_json(reply.text, reply.reasoning), reply.finish_reason, native)
        return self._completion(turn, model, [choice], tokens, charged=True)

    def _choice_error(self, reply: ChoiceErrorReply, turn: Turn) -> Rendered:
        model = turn.route.model
        partial = reply.partial_content
        completion = estimate_tokens(partial or "")
        tokens = Tokens(turn.prompt_tokens, completion, 0, *model.cost(0, 0))
        choice = _choice(message_json(partial or "", None), "error", "error")
        choice["error"] = {
            "code": reply.code,
            "message": reply.message,
            "metadata": {"error_type": reply.error_type},
        }
        return self._completion(turn, model, [choice], tokens, charged=False)

    def _no_choices(self, turn: Turn) -> Rendered:
        model = turn.route.model
        tokens = _tokens(model, turn.prompt_tokens, 0, 0)
        return self._completion(turn, model, [], tokens, charged=True)

    def _error(self, reply: ErrorReply) -> Rendered:
        headers: dict[str, str] = {}
        if reply.retry_after_s is not None:
            headers["Retry-After"] = str(reply.retry_after_s)
        if reply.status == 429:
            wait_s = 60 if reply.retry_after_s is None else reply.retry_after_s
            reset_ms = int(self.now().timestamp() * 1000) + wait_s * 1000
            headers["X-RateLimit-Limit"] = str(RATE_LIMIT_PER_MINUTE)
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = str(reset_ms)
        envelope = error_envelope(
            reply.status, reply.message, reply.metadata, reply.availability, USER_ID
        )
        return reply.status, headers, encode(envelope), JSON

    def _served(self, slug: str | None, routed: FakeModel) -> FakeModel:
        if slug is None:
            return routed
        return self.catalogue.find(slug) or dataclasses.replace(
            routed, id=slug, canonical_slug=None
        )

    def _completion(
        self, turn: Turn, model: FakeModel, choices: list[Json], tokens: Tokens, *, charged: bool
    ) -> Rendered:
        created_at = self.now()
        gen_id = turn.generation_id
        finish = choices[0]["finish_reason"] if choices else None
        native = choices[0]["native_finish_reason"] if choices else None
        headers = turn.record.headers
        self.ledger.record(
            Generation(
                gen_id,
                model.id,
                model.provider,
                created_at,
                tokens,
                finish,
                native,
                charged,
                headers.get("http-referer"),
                headers.get("user-agent"),
            )
        )
        turn.record.served_model = model.id
        turn.record.generation_id = gen_id
        body = completion_json(gen_id, int(created_at.timestamp()), model, choices, tokens)
        return 200, {"X-Generation-Id": gen_id}, encode(body), JSON


def _tokens(model: FakeModel, prompt: int, completion: int, reasoning: int) -> Tokens:
    return Tokens(prompt, completion, reasoning, *model.cost(prompt, completion))


def _choice(message: Json, finish_reason: str, native: str) -> Json:
    return {
        "index": 0,
        "logprobs": None,
        "finish_reason": finish_reason,
        "native_finish_reason": native,
        "message": message,
    }
