"""What the agent asks of a decision provider (LLM or rules)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.llm.context import DecisionContext
from app.llm.parsing import ParsedDecision


@dataclass(frozen=True, slots=True)
class LlmCallRecord:
    """One request to a provider, kept whole for audit (persisted in ``llm_calls``).

    ``cached`` marks a reply served from the reply cache (:mod:`app.llm.cache`): it cost
    nothing now (``cost_usd`` 0, ``latency_ms`` 0) and ``cached_from`` says when the original
    request was made; ``generation_id`` stays the original generation's.
    """

    provider: str
    model: str
    prompt: str
    prompt_hash: str
    raw_reply: str | None
    status: str  # "ok" | "error" | "invalid"
    started_at: datetime
    latency_ms: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None
    generation_id: str | None = None
    error: str | None = None
    attempt: int = 1
    cached: bool = False
    cached_from: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """A provider's answer: the validated decision (None = hold everything) and its audit.

    Attributes:
        provider: ``"openrouter"`` or ``"rules"``: who decided.
        model: The model that answered (or the rule set's name).
        prompt_version: The template hash.
        decision: The validated decision; None when every attempt failed (hold all).
        calls: Every call made, repair round included, in order.
        validation_error: The last validation problem, when the reply never validated.
        notes: Things worth recording (fallbacks taken, symbols dropped, budget state).
    """

    provider: str
    model: str
    prompt_version: str | None
    decision: ParsedDecision | None
    calls: tuple[LlmCallRecord, ...] = ()
    validation_error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class DecisionProvider(Protocol):
    """Turns a decision context into a validated decision. Never raises for bad replies."""

    name: str

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """Decide for every asset of ``context``.

        Raises:
            app.llm.errors.LlmError: Only for failures the caller must act on (no credits,
                authentication); bad or missing replies come back as a hold.
        """
        ...
