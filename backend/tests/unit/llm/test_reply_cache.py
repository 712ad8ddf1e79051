"""The reply cache in front of the real OpenRouter client, against the fake over loopback."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from app.llm.cache import (
    CacheMode,
    CachingCompletions,
    MemoryReplyStore,
    ReplyCacheMiss,
    request_key,
)
from app.llm.errors import LlmRejected
from app.llm.http import OpenRouterClient
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter, Reply

ASKED_AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You trade."},
            {"role": "user", "content": "BTC closed at 68000. Decide."},
        ],
        "temperature": 0.2,
        "max_tokens": 400,
        "response_format": {"type": "json_object"},
        **overrides,
    }


@pytest.fixture
async def router() -> AsyncIterator[FakeOpenRouter]:
    async with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture
async def client(router: FakeOpenRouter) -> AsyncIterator[OpenRouterClient]:
    http = OpenRouterClient(
        base_url=router.base_url, api_key=SecretStr(DEFAULT_API_KEY), timeout_s=5.0
    )
    yield http
    await http.aclose()


def caching(
    client: OpenRouterClient, store: MemoryReplyStore, mode: CacheMode
) -> CachingCompletions:
    return CachingCompletions(client, store, mode, clock=ManualClock(ASKED_AT))


async def test_use_asks_once_and_answers_the_repeat_from_the_cache(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.content('{"action": "hold"}'))
    cache = caching(client, MemoryReplyStore(), CacheMode.USE)

    fresh = await cache.complete(body())
    again = await cache.complete(body())

    assert len(router.requests) == 1
    assert fresh.cached is False
    assert fresh.cached_from is None
    assert fresh.cost_usd is not None
    assert fresh.cost_usd > 0
    assert again.cached is True
    assert again.cost_usd == Decimal(0)
    assert again.latency_ms == 0
    assert again.cached_from == ASKED_AT.isoformat()
    assert again.content == fresh.content == '{"action": "hold"}'
    assert again.generation_id == fresh.generation_id
    assert (again.model, again.finish_reason) == (fresh.model, fresh.finish_reason)
    assert (again.prompt_tokens, again.completion_tokens) == (
        fresh.prompt_tokens,
        fresh.completion_tokens,
    )


async def test_only_with_an_empty_cache_misses_without_asking(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    cache = caching(client, MemoryReplyStore(), CacheMode.ONLY)

    with pytest.raises(ReplyCacheMiss) as raised:
        await cache.complete(body())

    assert isinstance(raised.value, LlmRejected)  # final: the provider holds, never retries
    assert router.calls == []


async def test_only_answers_what_an_earlier_run_kept(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    store = MemoryReplyStore()
    await caching(client, store, CacheMode.USE).complete(body())

    replayed = await caching(client, store, CacheMode.ONLY).complete(body())

    assert replayed.cached is True
    assert len(router.requests) == 1


async def test_refresh_always_asks_and_replaces_the_kept_reply(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.content('{"n": 1}'), Reply.content('{"n": 2}'))
    store = MemoryReplyStore()
    refresh = caching(client, store, CacheMode.REFRESH)

    first = await refresh.complete(body())
    second = await refresh.complete(body())

    assert len(router.requests) == 2
    assert not first.cached
    assert not second.cached
    kept = await caching(client, store, CacheMode.ONLY).complete(body())
    assert kept.content == '{"n": 2}'
    assert len(store) == 1


async def test_a_failed_call_is_not_kept(router: FakeOpenRouter, client: OpenRouterClient) -> None:
    router.script(Reply.error(400, "bad parameter"))
    store = MemoryReplyStore()

    with pytest.raises(LlmRejected):
        await caching(client, store, CacheMode.USE).complete(body())

    assert len(store) == 0


async def test_any_change_to_the_request_is_another_key(
    router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    cache = caching(client, MemoryReplyStore(), CacheMode.USE)
    other_message = body()
    other_message["messages"] = [*body()["messages"][:1], {"role": "user", "content": "Decide."}]

    for variant in (body(), body(temperature=0.3), other_message, body(max_tokens=401)):
        completion = await cache.complete(variant)
        assert completion.cached is False

    assert len(router.requests) == 4


def test_the_key_is_the_canonical_json_of_the_body() -> None:
    reordered = dict(reversed(list(body().items())))

    assert request_key(reordered) == request_key(body())
    assert len(request_key(body())) == 64
    assert request_key(body(temperature=0.2000001)) != request_key(body())
    assert request_key(body(seed=7)) != request_key(body())
    schema = {"type": "json_schema", "json_schema": {"name": "d", "schema": {"type": "object"}}}
    stricter = {"type": "json_schema", "json_schema": {"name": "d", "schema": {"type": "array"}}}
    assert request_key(body(response_format=schema)) != request_key(body(response_format=stricter))
