"""Self-tests of the fake OpenRouter: model routing, fallbacks and required parameters.

Raw httpx against the fake (the protocol, not our client).
"""

from datetime import UTC, datetime

import httpx

from tests.contract.openrouter_helpers import (
    LLAMA,
    MESSAGES,
    MINI,
    RETIRED,
    SCHEMA_FORMAT,
    chat,
    chat_body,
    error_of,
)
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import (
    DEFAULT_API_KEY,
    NO_ENDPOINTS,
    NO_TOOL_ENDPOINTS,
    FakeOpenRouter,
    Reply,
)

# -- routing ---------------------------------------------------------------------------


async def test_unknown_and_retired_models(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    unknown = await chat(http, model="acme/nope-1")
    retired = await chat(http, model=RETIRED)
    assert error_of(unknown) == (400, 400, "acme/nope-1 is not a valid model ID")
    assert unknown.json()["error"]["availability"]["code"] == "model_not_found"
    assert error_of(retired)[:2] == (404, 404)
    assert "retired" in error_of(retired)[2]
    availability = retired.json()["error"]["availability"]
    assert (availability["code"], availability["retryable"]) == ("model_deprecated", False)
    assert availability["requested_models"] == [RETIRED]


async def test_retirement_follows_the_clock() -> None:
    clock = ManualClock(datetime(2026, 5, 14, 23, 0, tzinfo=UTC))
    async with (
        FakeOpenRouter(clock=clock) as router,
        httpx.AsyncClient(
            base_url=router.base_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        ) as client,
    ):
        before = await client.post("/chat/completions", json=chat_body(model=RETIRED))
        clock.set(datetime(2026, 5, 15, tzinfo=UTC))
        after = await client.post("/chat/completions", json=chat_body(model=RETIRED))
    assert (before.status_code, after.status_code) == (200, 404)
    assert before.json()["created"] == int(datetime(2026, 5, 14, 23, 0, tzinfo=UTC).timestamp())


async def test_structured_outputs_need_support_only_when_required(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(Reply.content("free text, no JSON"))
    strict = await chat(
        http, model=LLAMA, response_format=SCHEMA_FORMAT, provider={"require_parameters": True}
    )
    json_mode = await chat(
        http,
        model=LLAMA,
        response_format={"type": "json_object"},
        provider={"require_parameters": True},
    )
    assert error_of(strict) == (404, 404, NO_ENDPOINTS)
    assert strict.json()["error"]["availability"]["code"] == "constraint_filtered"
    assert error_of(json_mode)[:2] == (404, 404)
    assert router.pending == 1
    lenient = await chat(http, model=LLAMA, response_format=SCHEMA_FORMAT)
    assert lenient.status_code == 200
    assert lenient.json()["choices"][0]["message"]["content"] == "free text, no JSON"
    assert router.requests[-1].dropped_parameters == ("structured_outputs",)
    grok = await chat(http, response_format=SCHEMA_FORMAT, provider={"require_parameters": True})
    assert grok.status_code == 200


async def test_require_parameters_covers_every_parameter(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    required = {"require_parameters": True}
    penalty = await chat(http, presence_penalty=0.5, provider=required)
    effort = await chat(http, model=LLAMA, reasoning_effort="low", provider=required)
    assert error_of(penalty)[:2] == error_of(effort)[:2] == (404, 404)
    assert (await chat(http, presence_penalty=0.5)).status_code == 200
    assert router.requests[-1].dropped_parameters == ("presence_penalty",)


async def test_tools_need_a_tool_capable_model(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    tools = [{"type": "function", "function": {"name": "price", "parameters": {}}}]
    response = await chat(http, model=LLAMA, tools=tools)
    assert error_of(response) == (404, 404, NO_TOOL_ENDPOINTS)
    assert (await chat(http, tools=tools)).status_code == 200
    assert (await chat(http, model=LLAMA, tools=[])).status_code == 200


async def test_model_fallbacks(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    required = {"require_parameters": True}
    served = await chat(
        http,
        model="acme/nope-1",
        models=[RETIRED, LLAMA, MINI],
        response_format=SCHEMA_FORMAT,
        provider=required,
    )
    assert served.status_code == 200
    assert served.json()["model"] == MINI
    assert router.requests[-1].served_model == MINI
    only_models = await http.post(
        "/chat/completions", json={"models": [RETIRED, MINI], "messages": MESSAGES}
    )
    assert only_models.json()["model"] == MINI
    all_fail = await chat(
        http, model=RETIRED, models=[LLAMA], response_format=SCHEMA_FORMAT, provider=required
    )
    assert error_of(all_fail) == (404, 404, NO_ENDPOINTS)
    last_unknown = await chat(http, model=RETIRED, models=["acme/nope-1"])
    assert error_of(last_unknown)[:2] == (400, 400)


async def test_mandatory_reasoning_and_context_length(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    off = await chat(http, reasoning={"effort": "none"})
    assert error_of(off)[:2] == (400, 400)
    assert (await chat(http, model=MINI, reasoning={"effort": "none"})).status_code == 200
    too_long = await chat(http, model=LLAMA, max_tokens=131_072)
    status, _, message = error_of(too_long)
    assert status == 400
    assert "maximum context length is 131072 tokens" in message
    assert too_long.json()["error"]["metadata"]["error_type"] == "context_length_exceeded"
