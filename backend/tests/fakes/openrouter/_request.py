"""``ChatRequest`` (what a test sees of each chat call) and the body's validation.

Validation answers 400 with a message naming the field. It covers what our client could get
wrong: ``messages`` (non-empty, known roles, string/parts/null content), ``model``/``models``
types, ``max_tokens``/``max_completion_tokens`` (integers >= 1), ``temperature`` (0-2),
``top_p`` ((0, 1]), ``response_format`` (spec §2.4), ``provider`` (unknown keys are refused,
as the ``ProviderPreferences`` schema has ``additionalProperties: false``), ``reasoning`` and
``reasoning_effort`` (spec §2.8), and ``tools`` (a list). Other keys are accepted and ignored.
"""

import re
from dataclasses import dataclass

from ._wire import ApiError, Json

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
EFFORTS = frozenset({"max", "xhigh", "high", "medium", "low", "minimal", "none"})
PROVIDER_KEYS = frozenset(
    {
        "order",
        "allow_fallbacks",
        "require_parameters",
        "data_collection",
        "zdr",
        "enforce_distillable_text",
        "only",
        "ignore",
        "quantizations",
        "sort",
        "preferred_min_throughput",
        "preferred_max_latency",
        "max_price",
    }
)
_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class ChatRequest:
    """One ``POST /chat/completions`` as the fake received it, and how it was handled.

    Attributes:
        body: The JSON body (``{}`` when it was not a JSON object; see ``raw_body``).
        headers: Request headers, names lower-cased.
        raw_body: The body as text.
        status: The HTTP status answered (None until answered).
        served_model: The catalogue id the request was routed to after fallbacks, or the
            ``model`` of the ``Reply.content`` that answered (None when rejected before
            reaching a model).
        dropped_parameters: ``supported_parameters`` names the served model lacks, silently
            ignored because ``provider.require_parameters`` was not true.
        generation_id: The ``gen-...`` id of the answer, when it had one.
    """

    body: Json
    headers: dict[str, str]
    raw_body: str
    status: int | None = None
    served_model: str | None = None
    dropped_parameters: tuple[str, ...] = ()
    generation_id: str | None = None

    @property
    def model(self) -> str | None:
        """The ``model`` field."""
        value = self.body.get("model")
        return value if isinstance(value, str) else None

    @property
    def messages(self) -> list[Json]:
        """The ``messages`` (the objects among them)."""
        value = self.body.get("messages")
        return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []

    @property
    def response_format(self) -> Json | None:
        """The ``response_format`` object."""
        value = self.body.get("response_format")
        return value if isinstance(value, dict) else None

    @property
    def max_tokens(self) -> int | None:
        """``max_tokens``, else ``max_completion_tokens``."""
        for key in ("max_tokens", "max_completion_tokens"):
            value = self.body.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    @property
    def provider(self) -> Json | None:
        """The ``provider`` routing object."""
        value = self.body.get("provider")
        return value if isinstance(value, dict) else None

    @property
    def models(self) -> list[str] | None:
        """The ``models`` fallback list."""
        value = self.body.get("models")
        return [m for m in value if isinstance(m, str)] if isinstance(value, list) else None

    @property
    def require_parameters(self) -> bool:
        """Whether ``provider.require_parameters`` is true."""
        return bool((self.provider or {}).get("require_parameters") is True)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_body(body: Json) -> None:
    """Raise a 400 ``ApiError`` for the first problem of a chat request body."""
    if body.get("stream") is True:
        raise _bad("streaming not supported by this fake: send stream=false")
    _validate_messages(body.get("messages"))
    _validate_models(body)
    _validate_sampling(body)
    if "response_format" in body:
        validate_response_format(body["response_format"])
    if "provider" in body:
        _validate_provider(body["provider"])
    _validate_reasoning(body)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _bad("tools: expected an array of tool definitions")


def _validate_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad('Input required: specify "prompt" or "messages"')
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad(f"{where}: expected an object")
        role = message.get("role")
        if role not in ROLES:
            raise _bad(f"{where}.role: expected one of {', '.join(sorted(ROLES))}")
        if "content" not in message:
            raise _bad(f"{where}.content: required")
        content = message["content"]
        if content is None and role != "assistant":
            raise _bad(f"{where}.content: null is only allowed on assistant messages")
        if content is not None and not isinstance(content, str | list):
            raise _bad(f"{where}.content: expected a string or an array of parts")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _bad(f"{where}.tool_call_id: required on tool messages")


def _validate_models(body: Json) -> None:
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _bad("model: expected a model id string")
    models = body.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
    ):
        raise _bad("models: expected an array of model id strings")


def _validate_sampling(body: Json) -> None:
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise _bad(f"{key}: expected an integer >= 1")
    temperature = body.get("temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        raise _bad("temperature: expected a number between 0 and 2")
    top_p = body.get("top_p")
    if top_p is not None and (not _is_number(top_p) or not 0 < top_p <= 1):
        raise _bad("top_p: expected a number in (0, 1]")


def validate_response_format(value: object) -> None:
    """Accept ``{"type": "text"|"json_object"}`` and a well-formed ``json_schema`` (§2.4)."""
    if not isinstance(value, dict):
        raise _bad("response_format: expected an object")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return
    if kind != "json_schema":
        raise _bad("response_format.type: expected one of text, json_object, json_schema")
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("response_format.json_schema: required for type json_schema")
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise _bad("response_format.json_schema.name: expected 1-64 characters of [A-Za-z0-9_-]")
    if not isinstance(spec.get("schema"), dict):
        raise _bad("response_format.json_schema.schema: expected a JSON Schema object")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _bad("response_format.json_schema.strict: expected a boolean or null")


def _validate_provider(value: object) -> None:
    if not isinstance(value, dict):
        raise _bad("provider: expected an object")
    unknown = sorted(set(value) - PROVIDER_KEYS)
    if unknown:
        raise _bad(f"provider: unrecognized key(s): {', '.join(unknown)}")
    for key in ("allow_fallbacks", "require_parameters", "zdr", "enforce_distillable_text"):
        if value.get(key) is not None and not isinstance(value[key], bool):
            raise _bad(f"provider.{key}: expected a boolean")


def _validate_reasoning(body: Json) -> None:
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        raise _bad(f"reasoning_effort: expected one of {', '.join(sorted(EFFORTS))}")
    reasoning = body.get("reasoning")
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise _bad("reasoning: expected an object")
    if reasoning.get("effort") is not None and reasoning["effort"] not in EFFORTS:
        raise _bad(f"reasoning.effort: expected one of {', '.join(sorted(EFFORTS))}")
    budget = reasoning.get("max_tokens")
    if budget is not None and (not _is_int(budget) or budget < 0):
        raise _bad("reasoning.max_tokens: expected an integer >= 0")
    if reasoning.get("effort") is not None and budget is not None:
        raise _bad("reasoning: use either effort or max_tokens, not both")
    for key in ("exclude", "enabled"):
        if reasoning.get(key) is not None and not isinstance(reasoning[key], bool):
            raise _bad(f"reasoning.{key}: expected a boolean")
    if effort is not None and reasoning.get("effort") not in (None, effort):
        raise _bad("reasoning_effort contradicts reasoning.effort")


def reasoning_disabled(body: Json) -> bool:
    """Whether the request turns reasoning off (effort none, enabled false)."""
    reasoning = body.get("reasoning")
    effort = body.get("reasoning_effort")
    if isinstance(reasoning, dict):
        if reasoning.get("enabled") is False:
            return True
        effort = reasoning.get("effort", effort)
    return effort == "none"
