"""What an LLM backtest will cost, and whether the model may already know its prices.

Both answers come from ``GET /models`` (:class:`~app.llm.http.ModelInfo`): the per-token
prices, and ``created``, when OpenRouter added the model, which stands in for its release
date (OpenRouter does not list training cut-offs reliably).
"""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.llm.http import ModelInfo

# The usual rule of thumb for English and JSON with common tokenizers; prompts full of
# numbers tokenise a little worse, so an estimate is a floor more than a ceiling.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The expected spend of a run.

    Attributes:
        model: The model id.
        cycles: Decisions the run will ask for.
        prompt_tokens: Prompt tokens per decision.
        completion_tokens: Completion tokens per decision (reasoning included).
        usd: Expected total in USD; None when the model's prices are not known.
    """

    model: str
    cycles: int
    prompt_tokens: int
    completion_tokens: int
    usd: Decimal | None


def estimate_prompt_tokens(text: str) -> int:
    """Rough prompt tokens of one cycle from its prompt text: characters / 4, rounded up.

    Characters over four is the usual rough rule for English text and JSON; the real count
    depends on the model's tokenizer, so treat it as an estimate within some tens of percent.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_cost(
    model: ModelInfo, *, cycles: int, prompt_tokens: int, completion_tokens: int
) -> CostEstimate:
    """What ``cycles`` decisions of ``prompt_tokens`` in and ``completion_tokens`` out cost.

    One call per cycle: repair round-trips and cache hits are not foreseen (the first adds,
    the second saves).

    Raises:
        ValueError: A count is negative.
    """
    for name, value in (
        ("cycles", cycles),
        ("prompt_tokens", prompt_tokens),
        ("completion_tokens", completion_tokens),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    usd: Decimal | None = None
    if model.prompt_price is not None and model.completion_price is not None:
        per_cycle = prompt_tokens * model.prompt_price + completion_tokens * model.completion_price
        usd = cycles * per_cycle
    return CostEstimate(
        model=model.id,
        cycles=cycles,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        usd=usd,
    )


def leakage_warning(model: ModelInfo, window_end: datetime) -> str | None:
    """A one-line warning when the window ends before the model was released; else None.

    A model released after the window may have been trained on those very prices, so its
    backtest can look better than it would trade. A window that ends after the release may
    still overlap the training data; only this case is certain enough to warn about.

    Raises:
        ValueError: ``window_end`` is naive.
    """
    if window_end.tzinfo is None:
        raise ValueError(f"naive datetime {window_end.isoformat()} is ambiguous; use UTC")
    if model.created is None or window_end >= model.created:
        return None
    return (
        f"{model.id} was released on {model.created.date().isoformat()}, after this window ends "
        f"({window_end.date().isoformat()}): it may have seen these prices in training"
    )


__all__ = [
    "CHARS_PER_TOKEN",
    "CostEstimate",
    "estimate_cost",
    "estimate_prompt_tokens",
    "leakage_warning",
]
