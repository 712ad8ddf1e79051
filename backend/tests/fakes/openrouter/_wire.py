"""JSON shapes on the wire: error envelopes (spec §5), completions and usage (spec §3)."""

import json
import math
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ._catalogue import FakeModel

Json = dict[str, Any]
USER_ID = "user_2fakeOpenRouterTestUser"
DOCS_ROUTING = "https://openrouter.ai/docs/guides/routing/provider-selection"
_ID_ALPHABET = string.ascii_letters + string.digits
# Provider-native finish reasons for the normalised ones (spec §3.2); others echo the value.
_NATIVE_FINISH = {
    "Anthropic": {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"},
    "xAI": {"stop": "stop", "length": "length"},
}


def encode(payload: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(eq=False)
class ApiError(Exception):
    """A request-level error: rendered as the envelope with HTTP status = ``error.code``."""

    status: int
    message: str
    metadata: Json | None = None
    availability: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = True

    def __post_init__(self) -> None:
        super().__init__(self.status, self.message)

    def envelope(self) -> Json:
        """``{"error": {code, message, metadata?, availability?}, "user_id": ...}``."""
        return error_envelope(
            self.status,
            self.message,
            self.metadata,
            self.availability,
            USER_ID if self.authenticated else None,
        )


def error_envelope(
    code: int,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    availability: Mapping[str, Any] | None = None,
    user_id: str | None = USER_ID,
) -> Json:
    """The error envelope of spec §5.1 (``availability`` as in §5.4)."""
    error: Json = {"code": code, "message": message}
    if metadata is not None:
        error["metadata"] = dict(metadata)
    if availability is not None:
        error["availability"] = dict(availability)
    return {"error": error, "user_id": user_id}


def availability(
    code: str, requested: list[str], *, constraint: Json | None = None, retryable: bool = False
) -> Json:
    """An ``error.availability`` object (spec §5.4)."""
    payload: Json = {
        "code": code,
        "retryable": retryable,
        "requested_models": requested,
        "docs_url": "https://openrouter.ai/docs/api/reference/errors-and-debugging",
    }
    if constraint is not None:
        payload["constraint"] = constraint
    return payload


def generation_id(created: int) -> str:
    """A fresh ``gen-<unix>-<random>`` id (spec §3.1)."""
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))
    return f"gen-{created}-{suffix}"


def estimate_tokens(text: str) -> int:
    """About one token per four characters; empty text is 0 tokens."""
    return math.ceil(len(text) / 4)


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text of every message (string contents and text parts), joined."""
    pieces: list[str] = []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            pieces.extend(
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return "\n".join(pieces)


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Prompt tokens: the message text / 4 plus a few per message (at least 1)."""
    messages = body.get("messages")
    count = len(messages) if isinstance(messages, list) else 0
    return max(1, estimate_tokens(prompt_text(body)) + 3 * count)


def native_finish_reason(model: FakeModel, finish_reason: str) -> str:
    """What the provider itself would have said."""
    return _NATIVE_FINISH.get(model.provider, {}).get(finish_reason, finish_reason)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts and the USD they cost."""

    prompt: int
    completion: int
    reasoning: int
    prompt_cost: Decimal
    completion_cost: Decimal

    @property
    def cost(self) -> Decimal:
        """Total USD charged."""
        return self.prompt_cost + self.completion_cost


def usage_json(tokens: Tokens) -> Json:
    """The ``usage`` object (spec §3.3); money as JSON numbers."""
    return {
        "prompt_tokens": tokens.prompt,
        "completion_tokens": tokens.completion,
        "total_tokens": tokens.prompt + tokens.completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": tokens.reasoning, "image_tokens": 0},
        "cost": float(tokens.cost),
        "is_byok": False,
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": float(tokens.prompt_cost),
            "upstream_inference_completions_cost": float(tokens.completion_cost),
        },
    }


def completion_json(
    gen_id: str,
    created: int,
    model: FakeModel,
    choices: list[Json],
    tokens: Tokens,
) -> Json:
    """A ``chat.completion`` body (spec §3.1)."""
    return {
        "id": gen_id,
        "object": "chat.completion",
        "created": created,
        "model": model.id,
        "provider": model.provider,
        "system_fingerprint": None,
        "choices": choices,
        "usage": usage_json(tokens),
    }


def message_json(content: str | None, reasoning: str | None) -> Json:
    """``choices[i].message`` of an assistant answer."""
    return {"role": "assistant", "content": content, "refusal": None, "reasoning": reasoning}
