"""The LLM decision provider: prompt -> OpenRouter -> validated decision, every call recorded.

1. Ask with ``response_format`` json_schema (strict) and ``provider.require_parameters`` so
   a route without structured outputs fails loudly; if none supports it, ask again in plain
   JSON mode and extract the object from the text.
2. Validate. A reply that fails gets one repair round-trip carrying the validation error.
3. If it still fails, or the model cannot be reached, everything holds (decision None).

Out of credits (402) and a bad key (401) are raised: the caller pauses and alerts.
"""

import logging
import time
from collections.abc import Sequence
from typing import Any

from app.core.clock import Clock, SystemClock
from app.llm.context import DecisionContext
from app.llm.errors import LlmAuthError, LlmError, LlmNoCredits, StructuredOutputUnsupported
from app.llm.http import Completion, Completions, ModelInfo
from app.llm.parsing import DecisionParseError, ParsedDecision, parse_decision
from app.llm.ports import DecisionOutcome, LlmCallRecord
from app.llm.prompt import Prompt, build_prompt
from app.llm.schemas import DECISION_JSON_SCHEMA, SCHEMA_NAME

logger = logging.getLogger(__name__)

REPAIR_TEMPLATE = (
    "Your reply was not a valid decision: {error}. Answer again with only the corrected JSON "
    "object, following the schema and rules above."
)


class LlmDecisionProvider:
    """Implements :class:`~app.llm.ports.DecisionProvider` over OpenRouter.

    Args:
        client: The account's OpenRouter client, or a reply cache in front of it
            (:class:`~app.llm.cache.CachingCompletions`).
        model: The model id (``LLM_MODEL``).
        fallback_models: Tried by OpenRouter in order when the model fails.
        features: Feature names the invalidation grammar accepts.
        max_tokens: Completion budget (reasoning models need room to think).
        clock: Stamps each call record (the wall clock when not given).
    """

    name = "openrouter"

    def __init__(
        self,
        client: Completions,
        *,
        model: str,
        features: frozenset[str],
        fallback_models: Sequence[str] = (),
        max_tokens: int = 8000,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        # Calls are stamped with the loop's clock: a replay's spend falls on replay days.
        self._clock = clock or SystemClock()
        self._model = model
        self._fallbacks = tuple(fallback_models)
        self._features = features
        self._max_tokens = max_tokens

    @property
    def model(self) -> str:
        """The configured model id."""
        return self._model

    def reconfigure(self, *, model: str, fallback_models: Sequence[str]) -> None:
        """Ask another model (and fallbacks) from the next decision on (hot reload)."""
        self._model = model
        self._fallbacks = tuple(fallback_models)

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """Ask the model; validate; repair once; hold on failure.

        Raises:
            LlmNoCredits: The account is out of credits.
            LlmAuthError: The key is refused.
        """
        prompt = build_prompt(context)
        calls: list[LlmCallRecord] = []
        notes: list[str] = []
        try:
            completion, structured = await self._first_call(prompt, calls, notes)
        except (LlmNoCredits, LlmAuthError):
            raise
        except LlmError as exc:
            return self._outcome(prompt, None, calls, notes, f"no reply: {exc}")
        names = _accepted_names(context)
        intervals = {context.interval, context.long_interval}
        decision: ParsedDecision | None
        error = ""
        try:
            decision = parse_decision(
                completion.content, symbols=names, features=self._features, intervals=intervals
            )
        except DecisionParseError as first:
            calls[-1] = _mark_invalid(calls[-1], str(first))
            decision, error = await self._repair(
                prompt, completion, first, structured, calls, names, intervals
            )
        if decision is None:
            return self._outcome(prompt, None, calls, notes, error)
        notes.extend(decision.dropped)
        return self._outcome(prompt, decision, calls, notes, None)

    async def _first_call(
        self, prompt: Prompt, calls: list[LlmCallRecord], notes: list[str]
    ) -> tuple[Completion, bool]:
        try:
            return await self._call(prompt, prompt.messages, True, calls, 1), True
        except StructuredOutputUnsupported:
            notes.append("no route supports structured outputs: asked in plain JSON mode")
            return await self._call(prompt, prompt.messages, False, calls, 2), False

    async def _repair(
        self,
        prompt: Prompt,
        completion: Completion,
        error: DecisionParseError,
        structured: bool,
        calls: list[LlmCallRecord],
        names: dict[str, str],
        intervals: set[str],
    ) -> tuple[ParsedDecision | None, str]:
        messages = [
            *prompt.messages,
            {"role": "assistant", "content": completion.content or ""},
            {"role": "user", "content": REPAIR_TEMPLATE.format(error=error)},
        ]
        try:
            repaired = await self._call(prompt, messages, structured, calls, len(calls) + 1)
        except (LlmNoCredits, LlmAuthError):
            raise
        except LlmError as exc:
            return None, f"{error}; repair failed: {exc}"
        try:
            return (
                parse_decision(
                    repaired.content, symbols=names, features=self._features, intervals=intervals
                ),
                "",
            )
        except DecisionParseError as second:
            calls[-1] = _mark_invalid(calls[-1], str(second))
            return None, f"still invalid after one repair: {second}"

    def _body(self, messages: list[dict[str, str]], structured: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_tokens": self._max_tokens,
            "temperature": 0.2,
        }
        if self._fallbacks:
            body["models"] = [self._model, *self._fallbacks]
        if structured:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": SCHEMA_NAME,
                    "strict": True,
                    "schema": DECISION_JSON_SCHEMA,
                },
            }
            body["provider"] = {"require_parameters": True}
        else:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _call(
        self,
        prompt: Prompt,
        messages: list[dict[str, str]],
        structured: bool,
        calls: list[LlmCallRecord],
        attempt: int,
    ) -> Completion:
        started = self._clock.now()
        began = time.monotonic()  # latency is real time even when the clock is simulated
        text = prompt.text if attempt == 1 else _transcript(messages)
        try:
            completion = await self._client.complete(self._body(messages, structured))
        except LlmError as exc:
            latency = int((time.monotonic() - began) * 1000)
            calls.append(
                LlmCallRecord(
                    self.name,
                    self._model,
                    text,
                    prompt.sha256,
                    None,
                    "error",
                    started,
                    latency,
                    error=str(exc),
                    attempt=attempt,
                )
            )
            raise
        calls.append(
            LlmCallRecord(
                provider=self.name,
                model=completion.model or self._model,
                prompt=text,
                prompt_hash=prompt.sha256,
                raw_reply=completion.content,
                status="ok",
                started_at=started,
                latency_ms=completion.latency_ms,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost_usd=completion.cost_usd,
                generation_id=completion.generation_id,
                attempt=attempt,
                cached=completion.cached,
                cached_from=completion.cached_from,
            )
        )
        return completion

    def _outcome(
        self,
        prompt: Prompt,
        decision: ParsedDecision | None,
        calls: list[LlmCallRecord],
        notes: list[str],
        error: str | None,
    ) -> DecisionOutcome:
        model = next((c.model for c in reversed(calls) if c.status != "error"), self._model)
        if decision is None:
            logger.warning("LLM decision failed, holding everything: %s", error)
        return DecisionOutcome(
            provider=self.name,
            model=model,
            prompt_version=prompt.version,
            decision=decision,
            calls=tuple(calls),
            validation_error=error,
            notes=tuple(notes),
        )


def _accepted_names(context: DecisionContext) -> dict[str, str]:
    names: dict[str, str] = {}
    for view in context.assets:
        names[view.asset.upper()] = view.symbol
        names[view.symbol.upper()] = view.symbol
    return names


def _mark_invalid(record: LlmCallRecord, error: str) -> LlmCallRecord:
    fields = {**{k: getattr(record, k) for k in record.__dataclass_fields__}}
    fields.update(status="invalid", error=error)
    return LlmCallRecord(**fields)


def _transcript(messages: list[dict[str, str]]) -> str:
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def check_model(
    models: dict[str, ModelInfo], model: str, *, today: str, variable: str = "LLM_MODEL"
) -> list[str]:
    """Warnings about a configured model: unknown, retired, or without structured outputs."""
    info = models.get(model)
    if info is None:
        return [f"{variable} {model!r} is not listed by OpenRouter; decisions will fail and hold"]
    warnings = []
    if info.expiration_date and info.expiration_date <= today:
        warnings.append(f"{variable} {model!r} was retired on {info.expiration_date}")
    if "structured_outputs" not in info.supported_parameters:
        warnings.append(f"{variable} {model!r} has no structured outputs; JSON mode will be used")
    return warnings
