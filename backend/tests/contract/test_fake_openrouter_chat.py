"""Self-tests of the fake OpenRouter: completions, LLM misbehaviour, timing, lifecycle.

Raw httpx against the fake (the protocol, not our client).
"""

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.contract.openrouter_helpers import (
    DECISION,
    GROK,
    MESSAGES,
    MINI,
    SCHEMA_FORMAT,
    chat,
    chat_body,
)
from tests.fakes.openrouter import DEFAULT_API_KEY, ChatRequest, FakeOpenRouter, Reply

# -- successful completions -------------------------------------------------------------


async def test_content_reply_has_the_documented_shape(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(
        Reply.json(DECISION, prompt_tokens=800, completion_tokens=600, reasoning_tokens=550)
    )
    response = await http.post(
        "/chat/completions",
        json=chat_body(response_format=SCHEMA_FORMAT, max_tokens=4000, usage={"include": True}),
        headers={"HTTP-Referer": "https://example.test", "X-Title": "trading-agent"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"].startswith("gen-")
    assert response.headers["x-generation-id"] == body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert (body["model"], body["provider"], body["system_fingerprint"]) == (GROK, "xAI", None)
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("stop", "stop")
    assert choice["message"] == {
        "role": "assistant",
        "content": json.dumps(DECISION),
        "refusal": None,
        "reasoning": None,
    }
    usage = body["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        800,
        600,
        1400,
    )
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 550
    expected_cost = 800 * Decimal("0.000003") + 600 * Decimal("0.000015")
    assert usage["cost"] == pytest.approx(float(expected_cost))
    assert usage["cost_details"]["upstream_inference_prompt_cost"] == pytest.approx(0.0024)
    assert usage["is_byok"] is False


async def test_requests_are_recorded_parsed(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    provider = {"require_parameters": True, "sort": "price"}
    await http.post(
        "/chat/completions",
        json=chat_body(
            response_format=SCHEMA_FORMAT,
            max_completion_tokens=321,
            provider=provider,
            models=[MINI],
        ),
        headers={"X-OpenRouter-Title": "agent", "X-OpenRouter-Categories": "trading"},
    )
    [request] = router.requests
    assert isinstance(request, ChatRequest)
    assert request.model == GROK
    assert request.messages == MESSAGES
    assert request.response_format == SCHEMA_FORMAT
    assert request.max_tokens == 321
    assert request.provider == provider
    assert request.models == [MINI]
    assert request.headers["authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert request.headers["x-openrouter-title"] == "agent"
    assert (request.status, request.served_model, request.dropped_parameters) == (200, GROK, ())
    assert request.generation_id in router.generations


async def test_estimated_usage_prices_and_default_reply(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    response = await chat(http, model=MINI)
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "{}"
    usage = body["usage"]
    prompt_chars = sum(len(m["content"]) for m in MESSAGES)
    assert usage["prompt_tokens"] >= prompt_chars // 4
    assert usage["completion_tokens"] == 1
    cost = usage["prompt_tokens"] * Decimal("0.00000015") + Decimal("0.0000006")
    assert usage["cost"] == pytest.approx(float(cost))


async def test_script_is_first_in_first_out_and_clear_resets(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.content("one"), Reply.content("two"))
    router.script(Reply.content("three"))
    texts = [(await chat(http)).json()["choices"][0]["message"]["content"] for _ in range(4)]
    assert texts == ["one", "two", "three", "{}"]
    router.script(Reply.content("left over"))
    router.clear()
    assert (router.requests, router.pending) == ([], 0)
    router.default_reply = lambda request: Reply.content(f"echo {request.model}")
    assert (await chat(http, model=MINI)).json()["choices"][0]["message"]["content"] == (
        f"echo {MINI}"
    )
    router.default_reply = None
    response = await chat(http)
    assert response.status_code == 500
    assert "script is empty" in response.json()["error"]["message"]


async def test_reasoning_text_and_anthropic_finish_reasons(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.content("{}", reasoning="Funding is negative.", finish_reason="length"))
    body = (await chat(http, model="anthropic/claude-sonnet-4.5")).json()
    choice = body["choices"][0]
    assert choice["message"]["reasoning"] == "Funding is negative."
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("length", "max_tokens")
    usage = body["usage"]
    assert usage["completion_tokens"] >= usage["completion_tokens_details"]["reasoning_tokens"] > 0
    assert body["provider"] == "Anthropic"


async def test_served_model_can_be_scripted_and_slugs_resolve(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.content("{}", model=MINI))
    body = (await chat(http)).json()
    assert body["model"] == MINI
    assert router.requests[-1].served_model == MINI
    for slug in ("x-ai/grok-4-07-09", "x-ai/grok-4:nitro"):
        assert (await chat(http, model=slug)).json()["model"] == GROK
    assert (await chat(http, model="x-ai/grok-4:bogus")).status_code == 400
    body_without_model = {"messages": MESSAGES}
    answer = await http.post("/chat/completions", json=body_without_model)
    assert answer.json()["model"] == GROK


# -- LLM misbehaviour ------------------------------------------------------------------


async def test_misbehaviour_helpers(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    document = json.dumps(DECISION)
    router.script(
        Reply.fenced(DECISION),
        Reply.with_think(DECISION, thought="hmm"),
        Reply.with_prose(DECISION, before="Here it is:", after="Done."),
        Reply.truncated(DECISION),
        Reply.empty(),
        Reply.empty(null=True),
        Reply.content("{}", finish_reason="content_filter"),
    )
    choices = [(await chat(http)).json()["choices"][0] for _ in range(7)]
    contents = [c["message"]["content"] for c in choices]
    assert contents[0] == f"```json\n{document}\n```"
    assert contents[1] == f"<think>\nhmm\n</think>\n\n{document}"
    assert contents[2] == f"Here it is:\n\n{document}\n\nDone."
    assert contents[3] == document[: len(document) // 2]
    assert choices[3]["finish_reason"] == "length"
    assert contents[4:6] == ["", None]
    assert [c["finish_reason"] for c in choices[4:]] == ["stop", "stop", "content_filter"]


# -- timing ----------------------------------------------------------------------------


async def test_delay_outlasts_a_short_client_timeout(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.delay(30, Reply.content("late")), Reply.delay(0.05, Reply.content("soon")))
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/chat/completions", json=chat_body(), timeout=0.1)
    started = time.monotonic()
    soon = await chat(http)
    assert soon.json()["choices"][0]["message"]["content"] == "soon"
    assert time.monotonic() - started >= 0.05
    started = time.monotonic()
    await router.stop()  # cuts the 30 s delay short
    assert time.monotonic() - started < 2


async def test_keep_alive_newlines_before_the_body(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.keep_alive(Reply.json(DECISION), newlines=4, interval_s=0.01))
    response = await chat(http)
    assert response.status_code == 200
    assert response.text.startswith("\n\n\n\n{")
    assert response.json()["choices"][0]["message"]["content"] == json.dumps(DECISION)
    assert response.headers["x-generation-id"] == response.json()["id"]
    assert router.requests[-1].status == 200


# -- lifecycle and reply construction --------------------------------------------------


async def test_lifecycle() -> None:
    router = FakeOpenRouter()
    with pytest.raises(RuntimeError, match="not started"):
        _ = router.base_url
    await router.start()
    await router.start()
    assert router.base_url.startswith("http://127.0.0.1:")
    assert router.base_url.endswith("/api/v1")
    await router.stop()
    await router.stop()
    with pytest.raises(TypeError):
        router.script("not a reply")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Reply.content("x", finish_reason="done"),
        lambda: Reply.content("x", completion_tokens=1, reasoning_tokens=2),
        lambda: Reply.content("x", prompt_tokens=-1),
        lambda: Reply.error(200, "not an error"),
        lambda: Reply.delay(-1, Reply.content("x")),
        lambda: Reply.keep_alive(Reply.error(500, "x")),
        lambda: Reply.keep_alive(Reply.content("x"), newlines=0),
        lambda: Reply.truncated("{}", keep=1.0),
    ],
)
def test_reply_arguments_are_checked(build: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each builder has its own message
        build()
