"""Self-tests of the fake OpenRouter: error replies, authentication, request validation.

Raw httpx against the fake (the protocol, not our client).
"""

import json
import time

import httpx
import pytest

from tests.contract.openrouter_helpers import (
    GROK,
    SCHEMA_FORMAT,
    JsonObject,
    chat,
    chat_body,
    error_of,
)
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter, Reply

# -- errors ----------------------------------------------------------------------------


async def test_scripted_error_envelopes_and_headers(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(
        Reply.error(
            429,
            "Rate limit exceeded",
            retry_after_s=7,
            metadata={"error_type": "rate_limit_exceeded"},
        ),
        Reply.error(503, "No instances available", retry_after_s=3),
        Reply.error(502, "Provider returned error", metadata={"provider_name": "xAI", "raw": "x"}),
    )
    limited, unavailable, provider = [await chat(http) for _ in range(3)]
    assert error_of(limited) == (429, 429, "Rate limit exceeded")
    assert limited.json()["error"]["metadata"] == {"error_type": "rate_limit_exceeded"}
    assert limited.json()["user_id"].startswith("user_")
    assert limited.headers["retry-after"] == "7"
    assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == (
        "20",
        "0",
    )
    assert int(limited.headers["x-ratelimit-reset"]) > time.time() * 1000
    assert error_of(unavailable)[:2] == (503, 503)
    assert unavailable.headers["retry-after"] == "3"
    assert "x-ratelimit-limit" not in unavailable.headers
    assert "retry-after" not in provider.headers
    assert provider.json()["error"]["metadata"]["raw"] == "x"
    assert "x-generation-id" not in provider.headers


async def test_errors_inside_http_200(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    router.script(
        Reply.error_in_200(429, "Provider returned error"),
        Reply.choice_error("upstream disconnected", partial_content='{"act'),
        Reply.no_choices(),
    )
    top, in_choice, empty = [await chat(http) for _ in range(3)]
    assert top.status_code == 200
    assert "choices" not in top.json()
    assert top.json()["error"] == {"code": 429, "message": "Provider returned error"}
    assert in_choice.status_code == 200
    choice = in_choice.json()["choices"][0]
    assert choice["finish_reason"] == "error"
    assert choice["message"]["content"] == '{"act'
    assert choice["error"]["code"] == 502
    assert choice["error"]["metadata"]["error_type"] == "provider_unavailable"
    assert in_choice.json()["usage"]["cost"] == 0
    assert empty.json()["choices"] == []
    assert empty.json()["usage"]["prompt_tokens"] > 0


async def test_raw_replies_are_sent_verbatim(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    router.script(
        Reply.raw(200, '{"id": "gen-1", "choices": [{"mess'),
        Reply.raw(502, "<html>Bad gateway</html>", "text/html", headers={"X-Edge": "1"}),
    )
    truncated, html = await chat(http), await chat(http)
    assert truncated.text == '{"id": "gen-1", "choices": [{"mess'
    with pytest.raises(json.JSONDecodeError):
        truncated.json()
    assert (html.status_code, html.headers["content-type"], html.headers["x-edge"]) == (
        502,
        "text/html",
        "1",
    )


async def test_authentication(router: FakeOpenRouter) -> None:
    router.script(Reply.content("kept"))
    async with httpx.AsyncClient(base_url=router.base_url) as anonymous:
        missing = await anonymous.post("/chat/completions", json=chat_body())
        wrong = await anonymous.post(
            "/chat/completions", json=chat_body(), headers={"Authorization": "Bearer sk-or-v1-x"}
        )
        key = await anonymous.get("/key")
        models = await anonymous.get("/models", headers={"Authorization": "Bearer nope"})
    assert error_of(missing) == (401, 401, "Missing Authentication header")
    assert missing.json()["user_id"] is None
    assert error_of(wrong)[:2] == (401, 401)
    assert key.status_code == 401
    assert models.status_code == 200
    assert [r.status for r in router.requests] == [401, 401]
    assert router.requests[0].model == GROK
    assert router.pending == 1


async def test_other_keys_are_accepted() -> None:
    async with (
        FakeOpenRouter(api_keys=["sk-or-v1-a", "sk-or-v1-b"]) as router,
        httpx.AsyncClient(base_url=router.base_url) as client,
    ):
        statuses = [
            (
                await client.post(
                    "/chat/completions",
                    json=chat_body(),
                    headers={"Authorization": f"Bearer {key}"},
                )
            ).status_code
            for key in ("sk-or-v1-a", "sk-or-v1-b", DEFAULT_API_KEY)
        ]
    assert statuses == [200, 200, 401]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"messages": []}, '"messages"'),
        ({"messages": None}, '"messages"'),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"stream": True}, "streaming not supported by this fake"),
        ({"model": 7}, "model"),
        ({"models": "x-ai/grok-4"}, "models"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"response_format": "json"}, "response_format"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "json_schema.name",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "bad name!", "schema": {}},
                }
            },
            "json_schema.name",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "d"}}},
            "json_schema.schema",
        ),
        ({"provider": {"require_parameter": True}}, "require_parameter"),
        ({"provider": {"require_parameters": "yes"}}, "provider.require_parameters"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"reasoning": {"effort": "low", "max_tokens": 10}}, "reasoning"),
    ],
)
async def test_invalid_bodies_are_400(
    router: FakeOpenRouter, http: httpx.AsyncClient, overrides: JsonObject, fragment: str
) -> None:
    router.script(Reply.content("unused"))
    response = await chat(http, **overrides)
    status, code, message = error_of(response)
    assert (status, code) == (400, 400)
    assert fragment in message
    assert router.pending == 1


async def test_non_json_bodies_are_400(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"[1, 2]"):
        response = await http.post(
            "/chat/completions", content=content, headers={"Content-Type": "application/json"}
        )
        assert error_of(response)[:2] == (400, 400)
    assert [r.body for r in router.requests] == [{}, {}]
    assert router.requests[0].raw_body == "{not json"


async def test_accepted_formats_and_ignored_extras(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    extras: JsonObject = {
        "usage": {"include": True},
        "plugins": [{"id": "response-healing"}],
        "provider": {"sort": "price", "allow_fallbacks": False, "data_collection": "deny"},
        "temperature": 0.2,
        "seed": 7,
        "reasoning": {"enabled": True},
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Decide."},
            {"role": "assistant", "content": None},
        ],
    }
    for response_format in ({"type": "json_object"}, {"type": "text"}, SCHEMA_FORMAT):
        response = await chat(http, response_format=response_format, **extras)
        assert response.status_code == 200, response.text
