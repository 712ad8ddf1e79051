"""The fake's model catalogue: ``FakeModel``, the default models and their ``/models`` JSON.

Prices are ``Decimal`` USD per token, rendered as decimal strings on the wire (spec §1.4).
A model id may be asked for with a routing suffix (``:nitro``, ``:floor``, ``:online``,
``:thinking``, ``:extended``, ``:exacto``) or by its canonical slug; both resolve to the
catalogue entry, and the response names the catalogue id.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Json = dict[str, Any]
ROUTING_SUFFIXES = frozenset({"nitro", "floor", "online", "thinking", "extended", "exacto"})
_PROVIDER_OF_AUTHOR = {
    "x-ai": "xAI",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "meta-llama": "DeepInfra",
    "deepseek": "DeepSeek",
}
# Request keys and the supported_parameters name a provider must list to honour them.
_PARAMETER_OF_KEY = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "repetition_penalty": "repetition_penalty",
    "min_p": "min_p",
    "top_a": "top_a",
    "seed": "seed",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "stop": "stop",
    "logit_bias": "logit_bias",
    "logprobs": "logprobs",
    "top_logprobs": "top_logprobs",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "parallel_tool_calls": "parallel_tool_calls",
    "reasoning": "reasoning",
    "reasoning_effort": "reasoning",
    "include_reasoning": "include_reasoning",
    "verbosity": "verbosity",
    "web_search_options": "web_search_options",
}


@dataclass(frozen=True, slots=True)
class FakeModel:
    """One model of the fake catalogue, served by a single fake provider.

    Attributes:
        id: The ``author/slug`` id requests name.
        name: Display name (``"xAI: Grok 4"``).
        context_length: Prompt plus output tokens the model accepts.
        prompt_price: USD per prompt token.
        completion_price: USD per completion token (reasoning tokens included).
        supported_parameters: The ``/models`` list; ``structured_outputs`` enables
            ``json_schema`` and ``response_format`` enables ``json_object``.
        expiration_date: ``YYYY-MM-DD`` retirement date; from that day on chat requests get
            404 ``model_deprecated``.
        canonical_slug: Dated slug (defaults to ``id``); requests may use it too.
        max_completion_tokens: The provider's output cap (``top_provider``), or None.
        provider_name: The ``provider`` field of responses (default: from the author).
        reasoning_mandatory: Reasoning cannot be turned off (``effort: "none"`` is a 400).
        created: Unix seconds the model was added.
    """

    id: str
    name: str
    context_length: int
    prompt_price: Decimal
    completion_price: Decimal
    supported_parameters: tuple[str, ...]
    expiration_date: str | None = None
    canonical_slug: str | None = None
    max_completion_tokens: int | None = None
    provider_name: str | None = None
    reasoning_mandatory: bool = False
    created: int = 1_700_000_000

    @property
    def provider(self) -> str:
        """The name of the provider that serves the model."""
        if self.provider_name is not None:
            return self.provider_name
        return _PROVIDER_OF_AUTHOR.get(self.id.split("/", 1)[0], "FakeProvider")

    def retired(self, today: date) -> bool:
        """Whether ``today`` is on or after the expiration date."""
        if self.expiration_date is None:
            return False
        return date.fromisoformat(self.expiration_date) <= today

    def supports(self, parameter: str) -> bool:
        """Whether ``parameter`` is in ``supported_parameters``."""
        return parameter in self.supported_parameters

    def cost(self, prompt_tokens: int, completion_tokens: int) -> tuple[Decimal, Decimal]:
        """USD charged for the prompt and for the completion."""
        return prompt_tokens * self.prompt_price, completion_tokens * self.completion_price


def _unix(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


_GROK_PARAMETERS = (
    "include_reasoning",
    "logprobs",
    "max_tokens",
    "reasoning",
    "response_format",
    "seed",
    "structured_outputs",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
)
DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel(
        id="x-ai/grok-4",
        name="xAI: Grok 4",
        context_length=256_000,
        prompt_price=Decimal("0.000003"),
        completion_price=Decimal("0.000015"),
        supported_parameters=_GROK_PARAMETERS,
        canonical_slug="x-ai/grok-4-07-09",
        max_completion_tokens=64_000,
        reasoning_mandatory=True,
        created=_unix("2025-07-09"),
    ),
    FakeModel(
        id="openai/gpt-4o-mini",
        name="OpenAI: GPT-4o-mini",
        context_length=128_000,
        prompt_price=Decimal("0.00000015"),
        completion_price=Decimal("0.0000006"),
        supported_parameters=(
            "frequency_penalty",
            "logit_bias",
            "logprobs",
            "max_tokens",
            "presence_penalty",
            "response_format",
            "seed",
            "stop",
            "structured_outputs",
            "temperature",
            "tool_choice",
            "tools",
            "top_logprobs",
            "top_p",
        ),
        canonical_slug="openai/gpt-4o-mini-2024-07-18",
        max_completion_tokens=16_384,
        created=_unix("2024-07-18"),
    ),
    FakeModel(
        id="anthropic/claude-sonnet-4.5",
        name="Anthropic: Claude Sonnet 4.5",
        context_length=1_000_000,
        prompt_price=Decimal("0.000003"),
        completion_price=Decimal("0.000015"),
        supported_parameters=(
            "include_reasoning",
            "max_tokens",
            "reasoning",
            "response_format",
            "stop",
            "structured_outputs",
            "temperature",
            "tool_choice",
            "tools",
            "top_k",
            "top_p",
        ),
        canonical_slug="anthropic/claude-4.5-sonnet-20250929",
        max_completion_tokens=64_000,
        created=_unix("2025-09-29"),
    ),
    FakeModel(
        id="meta-llama/llama-3.1-8b-instruct",
        name="Meta: Llama 3.1 8B Instruct",
        context_length=131_072,
        prompt_price=Decimal("0.00000002"),
        completion_price=Decimal("0.00000003"),
        supported_parameters=(
            "frequency_penalty",
            "max_tokens",
            "min_p",
            "presence_penalty",
            "repetition_penalty",
            "seed",
            "stop",
            "temperature",
            "top_k",
            "top_p",
        ),
        max_completion_tokens=16_384,
        created=_unix("2024-07-23"),
    ),
    FakeModel(
        id="x-ai/grok-3-old",
        name="xAI: Grok 3 (retired)",
        context_length=131_072,
        prompt_price=Decimal("0.000003"),
        completion_price=Decimal("0.000015"),
        supported_parameters=_GROK_PARAMETERS,
        expiration_date="2026-05-15",
        max_completion_tokens=32_000,
        created=_unix("2025-04-09"),
    ),
)


class Catalogue:
    """The models of one fake, looked up by id, canonical slug or suffixed id."""

    def __init__(self, models: Iterable[FakeModel]) -> None:
        self.models = tuple(models)
        if not self.models:
            raise ValueError("the fake needs at least one model")
        self._by_slug: dict[str, FakeModel] = {}
        for model in self.models:
            for slug in (model.id, model.canonical_slug):
                if slug is not None:
                    self._by_slug.setdefault(slug, model)

    def find(self, slug: str) -> FakeModel | None:
        """The model named ``slug`` (or ``slug:<routing suffix>``), or None."""
        model = self._by_slug.get(slug)
        if model is None and ":" in slug:
            base, suffix = slug.rsplit(":", 1)
            if suffix in ROUTING_SUFFIXES:
                model = self._by_slug.get(base)
        return model


def required_parameters(body: Mapping[str, Any]) -> list[str]:
    """The supported_parameters names the request body needs, in a stable order."""
    needed: list[str] = []
    for key, parameter in _PARAMETER_OF_KEY.items():
        value = body.get(key)
        if value is not None and value != [] and parameter not in needed:
            needed.append(parameter)
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            needed.append("structured_outputs")
        elif kind == "json_object":
            needed.append("response_format")
    return needed


def _price(value: Decimal) -> str:
    return format(value.normalize(), "f")


def model_json(model: FakeModel) -> Json:
    """The model as ``GET /models`` lists it (spec §1.4)."""
    top_out = model.max_completion_tokens
    payload: Json = {
        "id": model.id,
        "canonical_slug": model.canonical_slug or model.id,
        "hugging_face_id": "",
        "name": model.name,
        "created": model.created,
        "description": f"{model.name}, served by the fake OpenRouter.",
        "context_length": model.context_length,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": _price(model.prompt_price),
            "completion": _price(model.completion_price),
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        },
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": top_out,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": list(model.supported_parameters),
        "default_parameters": {},
        "supported_voices": None,
        "links": {"details": f"/api/v1/models/{model.id}/endpoints"},
        "expiration_date": model.expiration_date,
        "knowledge_cutoff": None,
    }
    if model.supports("reasoning"):
        payload["reasoning"] = {
            "supported_efforts": None,
            "default_effort": "medium",
            "default_enabled": True,
            "supports_max_tokens": not model.reasoning_mandatory,
            "mandatory": model.reasoning_mandatory,
        }
    return payload


def filter_models(models: Sequence[FakeModel], wanted: Iterable[str]) -> list[FakeModel]:
    """The models that support every parameter in ``wanted``."""
    names = [w for w in wanted if w]
    return [m for m in models if all(m.supports(n) for n in names)]
