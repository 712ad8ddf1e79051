"""The OpenRouter client and the LLM decision provider against the fake OpenRouter."""

import json
import time
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from app.llm.errors import LlmAuthError, LlmNoCredits, LlmRejected, LlmTemporaryError
from app.llm.guard import GuardedDecisionProvider
from app.llm.http import OpenRouterClient
from app.llm.provider import LlmDecisionProvider, check_model
from app.llm.rules import RulesDecisionProvider
from app.trading.domain import Action
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import FakeOpenRouter, Reply
from tests.unit.llm.factories import FEATURES, NOW, context

KEY = "sk-or-v1-test-key"


def decision_doc(**btc: Any) -> dict[str, Any]:
    def leg(symbol: str, **kw: Any) -> dict[str, Any]:
        base = {
            "symbol": symbol,
            "action": "hold",
            "size_usd": None,
            "leverage": None,
            "stop_loss": None,
            "take_profit": None,
            "invalidation": None,
            "confidence": 0.5,
            "rationale": "wait",
        }
        return {**base, **kw}

    entry = {
        "action": "open_long",
        "size_usd": 4000,
        "leverage": 2,
        "stop_loss": 67000,
        "take_profit": 71000,
        "invalidation": {"condition": "close_4h < ema50_4h", "text": "trend gone"},
        "confidence": 0.7,
        "rationale": "trend and momentum",
        **btc,
    }
    return {"decisions": [leg("BTC", **entry), leg("ETH"), leg("SOL")], "summary": "long BTC"}


@pytest.fixture
async def router() -> AsyncIterator[FakeOpenRouter]:
    async with FakeOpenRouter(api_keys=(KEY,)) as fake:
        yield fake


@pytest.fixture
async def client(router: FakeOpenRouter) -> AsyncIterator[OpenRouterClient]:
    http = OpenRouterClient(
        base_url=router.base_url,
        api_key=SecretStr(KEY),
        timeout_s=1.0,
        backoff_s=0.01,
        max_backoff_s=2.0,
    )
    yield http
    await http.aclose()


def provider(client: OpenRouterClient, model: str = "x-ai/grok-4") -> LlmDecisionProvider:
    return LlmDecisionProvider(client, model=model, features=FEATURES, max_tokens=4000)


async def test_a_structured_decision_is_asked_for_validated_and_recorded(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.json(decision_doc()))

    outcome = await provider(client).decide(context())

    assert outcome.decision is not None
    btc = outcome.decision.legs[0]
    assert btc.proposal.action is Action.OPEN_LONG
    assert btc.proposal.stop_loss == Decimal(67000)
    (request,) = router.requests
    assert request.response_format is not None
    assert request.response_format["type"] == "json_schema"
    assert request.response_format["json_schema"]["strict"] is True
    assert request.provider == {"require_parameters": True}
    assert request.max_tokens == 4000
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["http-referer"]
    (call,) = outcome.calls
    assert call.status == "ok"
    assert call.raw_reply == json.dumps(decision_doc())
    assert call.prompt_tokens
    assert call.completion_tokens
    assert call.cost_usd is not None
    assert call.cost_usd > 0
    assert call.generation_id
    assert outcome.prompt_version is not None


async def test_a_route_without_structured_outputs_falls_back_to_json_mode(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.with_think(decision_doc()))

    outcome = await provider(client, "meta-llama/llama-3.1-8b-instruct").decide(context())

    assert outcome.decision is not None
    assert [c.status for c in outcome.calls] == ["error", "ok"]
    assert "plain JSON mode" in outcome.notes[0]
    assert router.requests[-1].response_format == {"type": "json_object"}


async def test_an_invalid_reply_gets_one_repair_round_trip(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.truncated(decision_doc()), Reply.fenced(decision_doc()))

    outcome = await provider(client).decide(context())

    assert outcome.decision is not None
    assert [(c.status, c.attempt) for c in outcome.calls] == [("invalid", 1), ("ok", 2)]
    repair = router.requests[-1].messages[-1]["content"]
    assert "not a valid decision" in repair
    assert "incomplete" in repair


async def test_still_invalid_after_the_repair_means_hold_everything(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    bad = decision_doc(stop_loss="sixty-seven thousand")
    router.script(Reply.json(bad), Reply.json(bad))

    outcome = await provider(client).decide(context())

    assert outcome.decision is None
    assert outcome.validation_error is not None
    assert "still invalid after one repair" in outcome.validation_error
    assert [c.status for c in outcome.calls] == ["invalid", "invalid"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(429, "Rate limit exceeded", retry_after_s=1),
        Reply.error(502, "Provider returned error"),
        Reply.error(503, "No instances available", retry_after_s=0),
        Reply.error(408, "Request timed out"),
        Reply.error_in_200(502, "Provider returned error"),
        Reply.choice_error("upstream failed mid-generation"),
        Reply.delay(2.0, Reply.json(decision_doc())),
    ],
)
async def test_retryable_failures_are_retried(
    router: FakeOpenRouter, client: OpenRouterClient, reply: Reply
) -> None:
    router.script(reply, Reply.json(decision_doc()))
    started = time.monotonic()

    completion = await client.complete(
        {"model": "x-ai/grok-4", "messages": [{"role": "user", "content": "hi"}]}
    )

    assert completion.content == json.dumps(decision_doc())
    assert len(router.requests) == 2
    if "429" in repr(reply):
        assert time.monotonic() - started >= 0.9  # Retry-After honoured


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.error(400, "bad parameter"), LlmRejected),
        (Reply.error(401, "User not found."), LlmAuthError),
        (
            Reply.error(402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
            LlmNoCredits,
        ),
        (Reply.error(403, "Request blocked"), LlmRejected),
        (Reply.error(413, "Payload too large"), LlmRejected),
        (Reply.error(422, "Unprocessable"), LlmRejected),
        (Reply.error_in_200(400, "context length exceeded"), LlmRejected),
    ],
)
async def test_final_failures_are_not_retried(
    router: FakeOpenRouter, client: OpenRouterClient, reply: Reply, error: type[Exception]
) -> None:
    router.script(reply, Reply.json(decision_doc()))

    with pytest.raises(error):
        await client.complete(
            {"model": "x-ai/grok-4", "messages": [{"role": "user", "content": "hi"}]}
        )

    assert len(router.requests) == 1


async def test_retries_give_up_with_a_temporary_error(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(*[Reply.error(500, "Internal error")] * 3)

    with pytest.raises(LlmTemporaryError):
        await client.complete(
            {"model": "x-ai/grok-4", "messages": [{"role": "user", "content": "hi"}]}
        )

    assert len(router.requests) == 3


async def test_the_configured_model_is_checked_against_the_catalogue(
    client: OpenRouterClient,
) -> None:
    models = await client.models()

    assert check_model(models, "x-ai/grok-4", today="2026-11-25") == []
    assert "not listed" in check_model(models, "x-ai/grok-9", today="2026-11-25")[0]
    assert "retired" in check_model(models, "x-ai/grok-3-old", today="2026-11-25")[0]
    assert (
        "no structured outputs"
        in check_model(models, "meta-llama/llama-3.1-8b-instruct", today="2026-11-25")[0]
    )


class Ledger:
    def __init__(self, spent: Decimal) -> None:
        self.value = spent

    async def spent(self, account_id: str, day: date) -> Decimal:
        return self.value


async def test_no_credits_pauses_the_llm_alerts_and_the_rules_decide(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    alerts: list[tuple[str, str]] = []

    async def alert(kind: str, message: str) -> None:
        alerts.append((kind, message))

    clock = ManualClock(NOW)
    guard = GuardedDecisionProvider(
        provider(client),
        RulesDecisionProvider(),
        clock=clock,
        spend=Ledger(Decimal(0)),
        alert=alert,
    )
    router.script(
        Reply.error(402, "Insufficient credits. Add more using https://openrouter.ai/credits")
    )

    first = await guard.decide(context())
    second = await guard.decide(context())

    assert first.provider == second.provider == "rules"
    assert "out of credits" in first.notes[-1]
    assert "paused" in second.notes[-1]
    assert [kind for kind, _ in alerts] == ["llm.no_credits"]
    assert len(router.requests) == 1  # the paused LLM was not called again
    assert guard.paused_until is not None


async def test_a_spent_budget_falls_back_to_the_rules_and_says_so(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    guard = GuardedDecisionProvider(
        provider(client),
        RulesDecisionProvider(),
        clock=ManualClock(NOW),
        spend=Ledger(Decimal("5.01")),
        daily_budget_usd=Decimal(5),
    )

    outcome = await guard.decide(context())

    assert outcome.provider == "rules"
    assert "LLM daily budget spent" in outcome.notes[-1]
    assert router.requests == []


async def test_without_a_key_the_rules_decide() -> None:
    guard = GuardedDecisionProvider(
        None, RulesDecisionProvider(), clock=ManualClock(NOW), spend=Ledger(Decimal(0))
    )

    outcome = await guard.decide(context())

    assert outcome.provider == "rules"
    assert "no OPENROUTER_API_KEY" in outcome.notes[-1]


async def test_startup_warns_about_unknown_models_and_maps_limits(
    router: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import load_settings
    from app.runtime.builder import risk_limits
    from app.runtime.container import check_llm_models

    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.setenv("OPENROUTER_BASE_URL", router.base_url)
    monkeypatch.setenv("LLM_MODEL", "x-ai/grok-3-old")
    monkeypatch.setenv("LLM_FALLBACK_MODELS", "x-ai/grok-4, nope/model")
    monkeypatch.setenv("MAX_DAILY_LOSS_PCT", "4")
    settings = load_settings(use_default_env_file=False)

    warnings = await check_llm_models(settings)
    limits = risk_limits(settings, settings.accounts[0])

    assert warnings == [
        "account default: LLM_MODEL 'x-ai/grok-3-old' was retired on 2026-05-15",
        "account default: LLM_FALLBACK_MODELS 'nope/model' is not listed by OpenRouter; "
        "decisions will "
        "fail and hold",
    ]
    assert limits.max_daily_loss == Decimal("0.04")
    assert limits.max_total_exposure_usd == Decimal(30000)
    assert limits.max_leverage == Decimal(2)


async def test_fallback_models_are_sent(router: FakeOpenRouter, client: OpenRouterClient) -> None:
    router.script(Reply.json(decision_doc()))
    llm = LlmDecisionProvider(
        client, model="x-ai/grok-4", features=FEATURES, fallback_models=["openai/gpt-4o-mini"]
    )

    await llm.decide(context())

    assert router.requests[0].models == ["x-ai/grok-4", "openai/gpt-4o-mini"]
