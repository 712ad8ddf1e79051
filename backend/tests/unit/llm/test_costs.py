"""Cost estimates and the look-ahead warning, from the fake OpenRouter's ``GET /models``."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from app.llm.costs import estimate_cost, estimate_prompt_tokens, leakage_warning
from app.llm.http import ModelInfo, OpenRouterClient, model_info
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter


@pytest.fixture(scope="module")
async def models() -> AsyncIterator[dict[str, ModelInfo]]:
    async with FakeOpenRouter() as fake:
        client = OpenRouterClient(base_url=fake.base_url, api_key=SecretStr(DEFAULT_API_KEY))
        try:
            yield await client.models()
        finally:
            await client.aclose()


async def test_models_lists_prices_per_token_and_the_release_date(
    models: dict[str, ModelInfo],
) -> None:
    grok = models["x-ai/grok-4"]

    assert grok.prompt_price == Decimal("0.000003")
    assert grok.completion_price == Decimal("0.000015")
    assert grok.created == datetime(2025, 7, 9, tzinfo=UTC)


async def test_the_estimate_is_cycles_times_the_tokens_at_the_listed_prices(
    models: dict[str, ModelInfo],
) -> None:
    estimate = estimate_cost(
        models["openai/gpt-4o-mini"], cycles=720, prompt_tokens=6000, completion_tokens=500
    )

    # 720 x (6000 x 0.00000015 + 500 x 0.0000006) = 720 x 0.0012 exactly
    assert estimate.usd == Decimal("0.864")
    assert (estimate.model, estimate.cycles) == ("openai/gpt-4o-mini", 720)
    assert (estimate.prompt_tokens, estimate.completion_tokens) == (6000, 500)


def test_without_prices_the_estimate_has_no_amount() -> None:
    router = model_info({"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}})
    bare = model_info({"id": "some/model"})

    assert router.prompt_price is None
    assert estimate_cost(router, cycles=10, prompt_tokens=100, completion_tokens=10).usd is None
    assert estimate_cost(bare, cycles=10, prompt_tokens=100, completion_tokens=10).usd is None
    assert bare.created is None


def test_negative_counts_are_refused() -> None:
    model = model_info({"id": "m", "pricing": {"prompt": "0.000001", "completion": "0.000002"}})

    with pytest.raises(ValueError, match="cycles"):
        estimate_cost(model, cycles=-1, prompt_tokens=1, completion_tokens=1)


async def test_a_window_before_the_release_warns_of_leakage(
    models: dict[str, ModelInfo],
) -> None:
    grok = models["x-ai/grok-4"]

    warning = leakage_warning(grok, datetime(2025, 3, 31, tzinfo=UTC))

    assert warning is not None
    assert "\n" not in warning
    assert "x-ai/grok-4" in warning
    assert "2025-07-09" in warning
    assert leakage_warning(grok, datetime(2026, 3, 31, tzinfo=UTC)) is None
    assert leakage_warning(model_info({"id": "m"}), datetime(2020, 1, 1, tzinfo=UTC)) is None


def test_a_naive_window_end_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        leakage_warning(model_info({"id": "m", "created": 1}), datetime(2025, 1, 1))  # noqa: DTZ001


def test_prompt_tokens_are_estimated_at_four_characters_each() -> None:
    assert estimate_prompt_tokens("") == 0
    assert estimate_prompt_tokens("abcd") == 1
    assert estimate_prompt_tokens("abcde") == 2
    assert estimate_prompt_tokens("x" * 24_000) == 6000
