"""Self-tests of the fake OpenRouter: credits, key, generations, models, unknown paths.

Raw httpx against the fake (the protocol, not our client).
"""

from decimal import Decimal

import httpx
import pytest

from tests.contract.openrouter_helpers import (
    GROK,
    LLAMA,
    MESSAGES,
    MINI,
    RETIRED,
    chat,
    chat_body,
    error_of,
)
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeModel, FakeOpenRouter, Reply

# -- credits, key, generations, models -------------------------------------------------


async def test_credits_are_charged_and_exhausted() -> None:
    async with (
        FakeOpenRouter(credits_usd=Decimal("0.05")) as router,
        httpx.AsyncClient(
            base_url=router.base_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        ) as client,
    ):
        router.script(Reply.content("{}", prompt_tokens=1000, completion_tokens=1000))
        paid = await client.post("/chat/completions", json=chat_body(max_tokens=2000))
        assert paid.status_code == 200
        assert router.usage_usd == Decimal("0.018")
        assert router.balance_usd == Decimal("0.032")
        key = (await client.get("/key")).json()["data"]
        assert (key["limit"], key["limit_remaining"], key["usage"]) == (0.05, 0.032, 0.018)
        assert key["label"].startswith("sk-or-v1-")
        no_cap = await client.post("/chat/completions", json=chat_body())
        status, _, message = error_of(no_cap)
        assert status == 402
        assert message.startswith("This request requires more credits, or fewer max_tokens.")
        assert "You requested up to 64000 tokens, but can only afford 2" in message
        assert no_cap.json()["error"]["metadata"] == {"provider_name": None}
        router.script(Reply.content("{}", prompt_tokens=100, completion_tokens=5000))
        assert (await client.post("/chat/completions", json=chat_body(max_tokens=100))).is_success
        assert router.balance_usd is not None
        assert router.balance_usd < 0
        broke = await client.post("/chat/completions", json=chat_body(max_tokens=1))
        assert error_of(broke) == (
            402,
            402,
            "Insufficient credits. Add more using https://openrouter.ai/credits",
        )
        assert router.pending == 0


async def test_key_without_limit_and_credits_endpoint(
    router: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    await chat(http)
    for path in ("/key", "/auth/key"):
        data = (await http.get(path)).json()["data"]
        assert (data["limit"], data["limit_remaining"], data["is_management_key"]) == (
            None,
            None,
            False,
        )
        assert data["usage"] > 0
    credits = await http.get("/credits")
    assert error_of(credits) == (403, 403, "Only management keys can perform this operation")


async def test_generation_stats(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    router.script(Reply.content("{}", prompt_tokens=10, completion_tokens=20, reasoning_tokens=5))
    gen_id = (await chat(http, model=MINI)).json()["id"]
    router.generation_not_ready_polls = 2
    polls = [await http.get("/generation", params={"id": gen_id}) for _ in range(3)]
    assert [p.status_code for p in polls] == [404, 404, 200]
    data = polls[-1].json()["data"]
    assert (data["id"], data["model"], data["provider_name"]) == (gen_id, MINI, "OpenAI")
    assert (data["tokens_prompt"], data["tokens_completion"]) == (10, 20)
    assert data["native_tokens_reasoning"] == 5
    cost = 10 * Decimal("0.00000015") + 20 * Decimal("0.0000006")
    assert data["total_cost"] == pytest.approx(float(cost))
    assert (data["finish_reason"], data["streamed"]) == ("stop", False)
    assert data["created_at"].endswith("Z")
    assert router.generations[gen_id].polls == 3
    unknown = await http.get("/generation", params={"id": "gen-0-missing"})
    missing_id = await http.get("/generation")
    assert (unknown.status_code, missing_id.status_code) == (404, 400)


async def test_model_list(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    everything = (await http.get("/models")).json()
    ids = [m["id"] for m in everything["data"]]
    assert ids == [m.id for m in router.models]
    assert {GROK, MINI, LLAMA, RETIRED, "anthropic/claude-sonnet-4.5"} <= set(ids)
    assert (everything["total_count"], everything["links"]["next"]) == (len(ids), None)
    grok = everything["data"][0]
    assert (grok["canonical_slug"], grok["context_length"]) == ("x-ai/grok-4-07-09", 256_000)
    assert grok["pricing"]["prompt"] == "0.000003"
    assert grok["pricing"]["completion"] == "0.000015"
    assert grok["top_provider"]["max_completion_tokens"] == 64_000
    assert {"structured_outputs", "response_format", "max_tokens", "reasoning"} <= set(
        grok["supported_parameters"]
    )
    assert grok["reasoning"]["mandatory"] is True
    assert grok["expiration_date"] is None
    retired = next(m for m in everything["data"] if m["id"] == RETIRED)
    assert retired["expiration_date"] == "2026-05-15"
    structured = await http.get("/models", params={"supported_parameters": "structured_outputs"})
    structured_ids = [m["id"] for m in structured.json()["data"]]
    assert LLAMA not in structured_ids
    assert MINI in structured_ids
    page = (await http.get("/models", params={"limit": 2, "offset": 1})).json()
    assert [m["id"] for m in page["data"]] == ids[1:3]
    assert "offset=3" in page["links"]["next"]
    assert (await http.get("/models", params={"limit": 0})).status_code == 400


async def test_custom_catalogue() -> None:
    free = FakeModel(
        id="acme/free-1",
        name="Acme Free",
        context_length=1000,
        prompt_price=Decimal(0),
        completion_price=Decimal(0),
        supported_parameters=("max_tokens",),
    )
    async with (
        FakeOpenRouter(models=[free]) as router,
        httpx.AsyncClient(
            base_url=router.base_url, headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        ) as client,
    ):
        default = await client.post("/chat/completions", json={"messages": MESSAGES})
        grok = await client.post("/chat/completions", json=chat_body())
        listed = (await client.get("/models")).json()["data"]
    assert (default.json()["model"], default.json()["provider"]) == ("acme/free-1", "FakeProvider")
    assert default.json()["usage"]["cost"] == 0
    assert grok.status_code == 400
    assert [m["id"] for m in listed] == ["acme/free-1"]


async def test_unknown_paths_and_methods(router: FakeOpenRouter, http: httpx.AsyncClient) -> None:
    assert error_of(await http.get("/embeddings"))[:2] == (404, 404)
    assert error_of(await http.get("/chat/completions"))[:2] == (405, 405)
    assert error_of(await http.post("/models"))[:2] == (405, 405)
    assert [c.path for c in router.calls] == [
        "/api/v1/embeddings",
        "/api/v1/chat/completions",
        "/api/v1/models",
    ]
    assert router.requests == []
