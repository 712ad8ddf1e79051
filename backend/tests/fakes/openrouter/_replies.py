"""``Reply``: what the fake answers to one ``POST /chat/completions``, scripted by a test.

Each constructor describes one answer; ``FakeOpenRouter.script`` queues them. The helpers at
the end produce the usual LLM misbehaviour as ``Reply.content`` variants::

    fake.script(
        Reply.json({"action": "hold"}),              # clean JSON
        Reply.fenced({"action": "hold"}),            # ```json ... ```
        Reply.with_think({"action": "hold"}),        # <think>...</think> then the JSON
        Reply.with_prose({"action": "hold"}),        # JSON, then an explanation
        Reply.truncated({"action": "hold"}),         # half the JSON, finish_reason "length"
        Reply.empty(),                               # content "" (null=True: content null)
    )
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})
Document = str | Mapping[str, Any] | list[Any]


class ContentOptions(TypedDict, total=False):
    """Keyword options of ``Reply.content`` shared by the misbehaviour helpers."""

    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning: str | None
    reasoning_tokens: int | None
    model: str | None


def _as_text(document: Document) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _check_tokens(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer; build it with the class methods, never directly."""

    @staticmethod
    def content(
        text: str | None,
        *,
        finish_reason: str = "stop",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        reasoning: str | None = None,
        reasoning_tokens: int | None = None,
        model: str | None = None,
    ) -> "ContentReply":
        """HTTP 200 ``chat.completion`` whose ``choices[0].message.content`` is ``text``.

        Args:
            text: The content (None renders ``null``).
            finish_reason: The normalised finish reason (``stop``, ``length``, ...).
            prompt_tokens: Default: estimated from the request (characters / 4).
            completion_tokens: Default: estimated from ``text`` plus ``reasoning_tokens``.
            reasoning: ``message.reasoning`` text (None renders ``null``).
            reasoning_tokens: Default: estimated from ``reasoning`` (0 without it).
            model: The model that served it; default the routed model.
        """
        if finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be one of {sorted(FINISH_REASONS)}")
        for name, value in (
            ("prompt_tokens", prompt_tokens),
            ("completion_tokens", completion_tokens),
            ("reasoning_tokens", reasoning_tokens),
        ):
            _check_tokens(name, value)
        if completion_tokens is not None and (reasoning_tokens or 0) > completion_tokens:
            raise ValueError("completion_tokens must include the reasoning_tokens")
        return ContentReply(
            text,
            finish_reason,
            prompt_tokens,
            completion_tokens,
            reasoning,
            reasoning_tokens,
            model,
        )

    @staticmethod
    def error(
        status: int,
        message: str,
        *,
        retry_after_s: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        availability: Mapping[str, Any] | None = None,
    ) -> "ErrorReply":
        """The error envelope (spec §5.1) with HTTP status = ``error.code`` = ``status``.

        ``Retry-After`` is sent when ``retry_after_s`` is set; a 429 also carries the
        ``X-RateLimit-*`` headers. ``metadata`` and ``availability`` (spec §5.4) go into
        ``error`` as given, and are absent when None.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"an error status is 4xx or 5xx, got {status}")
        return ErrorReply(
            status,
            message,
            retry_after_s,
            None if metadata is None else dict(metadata),
            None if availability is None else dict(availability),
        )

    @staticmethod
    def error_in_200(
        code: int, message: str, *, metadata: Mapping[str, Any] | None = None
    ) -> "ErrorIn200Reply":
        """HTTP 200 whose body is an error envelope without ``choices`` (spec §5.3 case 1)."""
        return ErrorIn200Reply(code, message, None if metadata is None else dict(metadata))

    @staticmethod
    def choice_error(
        message: str,
        *,
        code: int = 502,
        partial_content: str | None = None,
        error_type: str = "provider_unavailable",
    ) -> "ChoiceErrorReply":
        """HTTP 200 whose ``choices[0]`` has ``finish_reason: "error"`` and an ``error``."""
        return ChoiceErrorReply(message, code, partial_content, error_type)

    @staticmethod
    def no_choices() -> "NoChoicesReply":
        """HTTP 200 ``chat.completion`` with ``choices: []`` (spec §5.3 case 3)."""
        return NoChoicesReply()

    @staticmethod
    def delay(seconds: float, then: "Reply") -> "DelayReply":
        """Wait ``seconds`` before answering ``then`` (the wait ends early if the fake stops)."""
        if seconds < 0:
            raise ValueError("a delay is >= 0 seconds")
        return DelayReply(seconds, then)

    @staticmethod
    def keep_alive(
        then: "Reply", *, newlines: int = 3, interval_s: float = 0.0
    ) -> "KeepAliveReply":
        """Commit HTTP 200 early and send ``newlines`` blank lines before ``then``'s body.

        Spec §4.4: the real service does this on long non-streaming calls. ``interval_s`` is
        the pause before each newline; ``then`` must be a reply answered with status 200.
        """
        if not _answers_200(then):
            raise ValueError("keep_alive needs a reply answered with HTTP 200")
        if newlines < 1 or interval_s < 0:
            raise ValueError("keep_alive needs newlines >= 1 and interval_s >= 0")
        return KeepAliveReply(then, newlines, interval_s)

    @staticmethod
    def raw(
        status: int,
        body: str,
        content_type: str = "application/json",
        *,
        headers: Mapping[str, str] | None = None,
    ) -> "RawReply":
        """Exactly ``body`` with ``status``, e.g. truncated JSON or a proxy's HTML page."""
        return RawReply(status, body, content_type, dict(headers or {}))

    # -- LLM misbehaviour: Reply.content variants ---------------------------------------

    @staticmethod
    def json(document: Document, **options: Unpack[ContentOptions]) -> "ContentReply":
        """Clean JSON content (a mapping or list is serialised, a string used as is)."""
        return Reply.content(_as_text(document), **options)

    @staticmethod
    def fenced(
        document: Document, *, language: str = "json", **options: Unpack[ContentOptions]
    ) -> "ContentReply":
        """The JSON wrapped in a Markdown fence: ```` ```json\\n{...}\\n``` ````."""
        return Reply.content(f"```{language}\n{_as_text(document)}\n```", **options)

    @staticmethod
    def with_think(
        document: Document,
        *,
        thought: str = "The trend is unclear, so holding is safest.",
        **options: Unpack[ContentOptions],
    ) -> "ContentReply":
        """A ``<think>...</think>`` block in the content before the JSON."""
        return Reply.content(f"<think>\n{thought}\n</think>\n\n{_as_text(document)}", **options)

    @staticmethod
    def with_prose(
        document: Document,
        *,
        before: str | None = None,
        after: str | None = "I chose this because volatility is elevated.",
        **options: Unpack[ContentOptions],
    ) -> "ContentReply":
        """The JSON with prose before and/or after it (default: a sentence after)."""
        parts = [p for p in (before, _as_text(document), after) if p is not None]
        return Reply.content("\n\n".join(parts), **options)

    @staticmethod
    def truncated(
        document: Document, *, keep: float = 0.5, **options: Unpack[ContentOptions]
    ) -> "ContentReply":
        """The first ``keep`` share of the JSON, ``finish_reason: "length"`` by default."""
        if not 0 <= keep < 1:
            raise ValueError("keep is a share in [0, 1)")
        text = _as_text(document)
        options.setdefault("finish_reason", "length")
        return Reply.content(text[: int(len(text) * keep)], **options)

    @staticmethod
    def empty(*, null: bool = False, **options: Unpack[ContentOptions]) -> "ContentReply":
        """No content: ``""`` (or ``null`` with ``null=True``), finish_reason ``stop``."""
        return Reply.content(None if null else "", **options)


@dataclass(frozen=True, slots=True)
class ContentReply(Reply):
    """A successful completion (see ``Reply.content``)."""

    text: str | None
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str | None = None
    reasoning_tokens: int | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply(Reply):
    """A request-level error (see ``Reply.error``)."""

    status: int
    message: str
    retry_after_s: int | None = None
    metadata: dict[str, Any] | None = None
    availability: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ErrorIn200Reply(Reply):
    """An error envelope with status 200 (see ``Reply.error_in_200``)."""

    code: int
    message: str
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChoiceErrorReply(Reply):
    """A completion whose only choice failed (see ``Reply.choice_error``)."""

    message: str
    code: int = 502
    partial_content: str | None = None
    error_type: str = "provider_unavailable"


@dataclass(frozen=True, slots=True)
class NoChoicesReply(Reply):
    """A completion with an empty ``choices`` array."""


@dataclass(frozen=True, slots=True)
class DelayReply(Reply):
    """Wait, then answer another reply."""

    seconds: float
    then: Reply


@dataclass(frozen=True, slots=True)
class KeepAliveReply(Reply):
    """Blank lines first, then another reply's body."""

    then: Reply
    newlines: int = 3
    interval_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RawReply(Reply):
    """A verbatim body."""

    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _answers_200(reply: Reply) -> bool:
    if isinstance(reply, DelayReply):
        return _answers_200(reply.then)
    if isinstance(reply, RawReply):
        return reply.status == 200
    return isinstance(reply, ContentReply | ErrorIn200Reply | ChoiceErrorReply | NoChoicesReply)
