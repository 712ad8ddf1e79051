"""An LLM backtest's model check: its cost estimate, the training-leakage warning, the cache.

Before the first cycle the run asks OpenRouter's model list for the model's prices and its
release date: the estimate is printed and stored with the run, and a window that ends before
the model existed gets a warning in the report (the model may have seen those prices).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from app.backtest.spec import BacktestSpec
from app.config import AccountSettings, Settings
from app.llm.cache import CacheMode, CachingCompletions, ReplyStore
from app.llm.costs import CostEstimate, estimate_cost, estimate_prompt_tokens, leakage_warning
from app.llm.errors import LlmError
from app.llm.http import Completions, OpenRouterClient
from app.llm.prompt import FEATURE_NAMES, SYSTEM_TEMPLATE, USER_TEMPLATE

logger = logging.getLogger(__name__)

# Rough size of one asset's block in the prompt: every feature on both timeframes, about
# a dozen characters each with its name, plus the recent closes. The real prompt is
# measured by the provider's token counts once the run starts; this is for the estimate.
_ASSET_CHARS = len(FEATURE_NAMES) * 2 * 12 + 400


@dataclass
class LlmPlan:
    """What the model check found.

    Attributes:
        estimate: The expected cost; None when the model list could not be read.
        notes: Warnings for the report (leakage, no estimate).
    """

    estimate: CostEstimate | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the terminal and the run's record."""
        e = self.estimate
        if e is None:
            return "LLM cost estimate: unavailable"
        usd = f"{e.usd:.2f} USD" if e.usd is not None else "unknown (no prices listed)"
        return (
            f"LLM cost estimate: {usd} for {e.cycles} decisions of about {e.prompt_tokens} "
            f"prompt and {e.completion_tokens} completion tokens with {e.model}"
        )


def prompt_tokens_per_cycle(assets: int) -> int:
    """Estimated prompt tokens of one decision over ``assets`` assets."""
    return estimate_prompt_tokens(SYSTEM_TEMPLATE + USER_TEMPLATE) + assets * (
        estimate_prompt_tokens("x" * _ASSET_CHARS)
    )


async def check_model(
    settings: Settings, account: AccountSettings, spec: BacktestSpec, cycles: int
) -> LlmPlan:
    """Ask OpenRouter's model list for the model's prices and release date.

    A list that cannot be read does not stop the run (the cap still holds on real spend);
    the plan then says the estimate is unavailable.
    """
    plan = LlmPlan()
    if account.openrouter_api_key is None:
        return plan
    client = OpenRouterClient(
        base_url=settings.llm.base_url,
        api_key=account.openrouter_api_key,
        timeout_s=settings.llm_timeout_s,
    )
    try:
        models = await client.models()
    except LlmError as exc:
        plan.notes.append(f"no cost estimate: OpenRouter's model list failed ({exc})")
        return plan
    finally:
        await client.aclose()
    model = models.get(account.llm_model)
    if model is None:
        plan.notes.append(f"no cost estimate: {account.llm_model} is not in OpenRouter's list")
        return plan
    plan.estimate = estimate_cost(
        model,
        cycles=cycles,
        prompt_tokens=prompt_tokens_per_cycle(len(spec.assets)),
        # Replies are short JSON; reasoning models spend more: half the cap is the guess.
        completion_tokens=settings.llm_max_tokens // 2,
    )
    warning = leakage_warning(model, spec.end)
    if warning is not None:
        plan.notes.append(warning)
    return plan


def cached(store: ReplyStore, spec: BacktestSpec) -> Callable[[Completions], Completions]:
    """Wraps the run's OpenRouter client in the reply cache, with the run's policy."""
    mode = CacheMode(spec.cache.value)

    def wrap(client: Completions) -> Completions:
        return CachingCompletions(client, store, mode)

    return wrap
