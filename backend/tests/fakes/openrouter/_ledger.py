"""Money and history: the credit balance, the 402 checks, and past generations (spec §3.4, §6).

All keys of one fake draw on one balance. Before a request reaches the model the fake checks,
as OpenRouter does (spec §2.3), that the balance covers the prompt plus the *maximum* output
(``max_tokens``, else the model's ``max_completion_tokens``, else the rest of its context);
an empty balance gives the "Insufficient credits" 402, a too-small one the "requires more
credits, or fewer max_tokens" 402. Completions then charge their actual cost, which may push
the balance below zero. ``usage_daily``/``weekly``/``monthly`` all equal ``usage``.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ._catalogue import FakeModel
from ._wire import USER_ID, ApiError, Json, Tokens

INSUFFICIENT_CREDITS = "Insufficient credits. Add more using https://openrouter.ai/credits"


@dataclass
class Generation:
    """One answered completion, as ``GET /generation`` reports it.

    Attributes:
        polls: ``GET /generation`` calls so far for this id (including 404 answers).
    """

    id: str
    model: str
    provider_name: str
    created_at: datetime
    tokens: Tokens
    finish_reason: str | None
    native_finish_reason: str | None
    charged: bool
    http_referer: str | None
    user_agent: str | None
    polls: int = 0

    @property
    def cost(self) -> Decimal:
        """USD charged (0 when the generation was not billed)."""
        return self.tokens.cost if self.charged else Decimal(0)

    def json(self) -> Json:
        """The ``data`` object of ``GET /generation`` (spec §3.4)."""
        tokens = self.tokens
        return {
            "id": self.id,
            "upstream_id": f"upstream-{self.id}",
            "request_id": f"req-{self.id}",
            "session_id": None,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "provider_name": self.provider_name,
            "router": None,
            "preset_id": None,
            "app_id": None,
            "origin": self.http_referer or "",
            "http_referer": self.http_referer,
            "user_agent": self.user_agent,
            "external_user": None,
            "api_type": "completions",
            "data_region": "global",
            "service_tier": None,
            "workspace_id": None,
            "response_cache_source_id": None,
            "is_byok": False,
            "streamed": False,
            "cancelled": False,
            "total_cost": float(self.cost),
            "usage": float(self.cost),
            "upstream_inference_cost": None,
            "cache_discount": None,
            "tokens_prompt": tokens.prompt,
            "tokens_completion": tokens.completion,
            "native_tokens_prompt": tokens.prompt,
            "native_tokens_completion": tokens.completion,
            "native_tokens_reasoning": tokens.reasoning,
            "native_tokens_cached": 0,
            "native_tokens_completion_images": 0,
            "num_media_prompt": None,
            "num_media_completion": None,
            "num_input_audio_prompt": None,
            "num_search_results": None,
            "num_fetches": None,
            "web_search_engine": None,
            "latency": 120,
            "generation_time": 100,
            "moderation_latency": None,
            "finish_reason": self.finish_reason,
            "native_finish_reason": self.native_finish_reason,
            "provider_responses": None,
        }


class Ledger:
    """The balance (None: unlimited), what was spent, and every generation by id."""

    def __init__(self, credits_usd: Decimal | None) -> None:
        self.credits_usd = credits_usd
        self.usage_usd = Decimal(0)
        self.generations: dict[str, Generation] = {}

    @property
    def balance_usd(self) -> Decimal | None:
        """Credits left (may be negative), or None without a limit."""
        return None if self.credits_usd is None else self.credits_usd - self.usage_usd

    def check_affordable(
        self, model: FakeModel, prompt_tokens: int, max_tokens: int | None
    ) -> None:
        """Raise the 402 of spec §5.1 when the balance cannot pay the worst case."""
        balance = self.balance_usd
        if balance is None:
            return
        if balance <= 0:
            raise ApiError(402, INSUFFICIENT_CREDITS, metadata={"provider_name": None})
        prompt_cost = prompt_tokens * model.prompt_price
        requested = (
            max_tokens
            or model.max_completion_tokens
            or (max(1, model.context_length - prompt_tokens))
        )
        if prompt_cost + requested * model.completion_price <= balance:
            return
        affordable = 0
        if model.completion_price > 0:
            affordable = max(0, math.floor((balance - prompt_cost) / model.completion_price))
        message = (
            f"This request requires more credits, or fewer max_tokens. You requested up to "
            f"{requested} tokens, but can only afford {affordable}. To increase, visit "
            "https://openrouter.ai/settings/credits and add more credits"
        )
        raise ApiError(402, message, metadata={"provider_name": None})

    def record(self, generation: Generation) -> None:
        """Keep the generation and charge it when it is billed."""
        self.generations[generation.id] = generation
        if generation.charged:
            self.usage_usd += generation.tokens.cost

    def key_json(self, api_key: str) -> Json:
        """The ``data`` object of ``GET /key`` (spec §6.2)."""
        usage = float(self.usage_usd)
        balance = self.balance_usd
        return {
            "label": f"{api_key[:10]}...{api_key[-3:]}",
            "limit": None if self.credits_usd is None else float(self.credits_usd),
            "limit_reset": None,
            "limit_remaining": None if balance is None else float(balance),
            "include_byok_in_limit": False,
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
            "is_free_tier": False,
            "is_management_key": False,
            "is_provisioning_key": False,
            "creator_user_id": USER_ID,
            "expires_at": None,
        }
