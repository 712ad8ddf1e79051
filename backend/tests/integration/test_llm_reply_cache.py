"""The LLM reply cache on PostgreSQL and SQLite, and the decision provider over it end to end."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from app.api.schemas import LlmCallRead
from app.config._values import normalise_database_url
from app.core.types import AccountId, TradingMode
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import create_session_factory, session_scope
from app.llm.cache import CachedReply, CacheMode, CachingCompletions, SqlReplyStore
from app.llm.http import OpenRouterClient
from app.llm.models import LlmCall
from app.llm.provider import LlmDecisionProvider
from app.llm.repository import save_calls
from app.trading.repository import sync_accounts
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import DEFAULT_API_KEY, FakeOpenRouter, Reply
from tests.unit.llm.factories import FEATURES, context

from .conftest import Database

ASKED_AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
REPLY = CachedReply(
    model="x-ai/grok-4",
    served_model="x-ai/grok-4-07-09",
    content='{"decisions": [], "summary": "wait"}',
    finish_reason="stop",
    prompt_tokens=5210,
    completion_tokens=388,
    cost_usd=Decimal("0.021450000000000001"),
    generation_id="gen-1764754200-abcdefghijklmnopqrst",
    original_call_at=ASKED_AT,
)


def all_hold() -> dict[str, Any]:
    def hold(symbol: str) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "action": "hold",
            "size_usd": None,
            "leverage": None,
            "stop_loss": None,
            "take_profit": None,
            "invalidation": None,
            "confidence": 0.5,
            "rationale": "no edge",
        }

    return {"decisions": [hold("BTC"), hold("ETH"), hold("SOL")], "summary": "wait"}


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    url = normalise_database_url(f"sqlite:///{tmp_path / 'cache.db'}")
    engine = create_engine(url)
    await upgrade_to_head(engine)
    yield Database(url, engine, create_session_factory(engine))
    await engine.dispose()


@pytest.fixture(params=[pytest.param("pg", marks=pytest.mark.postgres), "sqlite"])
def database(request: pytest.FixtureRequest) -> Database:
    """The migrated PostgreSQL database, then a migrated SQLite file."""
    found = request.getfixturevalue(request.param)
    assert isinstance(found, Database)
    return found


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


def provider(client: OpenRouterClient, database: Database, mode: CacheMode) -> LlmDecisionProvider:
    cache = CachingCompletions(
        client, SqlReplyStore(database.sessions), mode, clock=ManualClock(ASKED_AT)
    )
    return LlmDecisionProvider(cache, model="x-ai/grok-4", features=FEATURES, max_tokens=4000)


async def test_the_sql_store_keeps_a_reply_exactly_and_a_put_replaces_it(
    database: Database,
) -> None:
    store = SqlReplyStore(database.sessions)
    key = "ab" * 32

    assert await store.get(key) is None
    await store.put(key, REPLY)
    assert await store.get(key) == REPLY

    newer = replace(REPLY, content='{"decisions": [], "summary": "later"}', cost_usd=None)
    await store.put(key, newer)
    assert await store.get(key) == newer
    assert await store.get("cd" * 32) is None


async def test_two_identical_contexts_ask_openrouter_once_and_the_audit_shows_the_hit(
    database: Database, router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.json(all_hold()))
    decide = provider(client, database, CacheMode.USE)

    first = await decide.decide(context())
    second = await decide.decide(context())

    assert len(router.requests) == 1
    assert first.decision is not None
    assert second.decision == first.decision
    (fresh,) = first.calls
    (hit,) = second.calls
    assert not fresh.cached
    assert fresh.cost_usd is not None
    assert fresh.cost_usd > 0
    assert hit.cached
    assert hit.cost_usd == Decimal(0)
    assert hit.latency_ms == 0
    assert hit.cached_from == ASKED_AT.isoformat()
    assert hit.generation_id == fresh.generation_id

    async with session_scope(database.sessions) as session:
        await sync_accounts(session, [(AccountId("alice"), TradingMode.PAPER)])
        await save_calls(session, "alice", [*first.calls, *second.calls])
    async with session_scope(database.sessions) as session:
        rows = (await session.scalars(select(LlmCall).order_by(LlmCall.cache_hit))).all()
        dumped = (await session.execute(text("SELECT * FROM llm_reply_cache"))).all()
    read = [LlmCallRead.model_validate(row) for row in rows]
    assert [(r.cache_hit, r.cached_from) for r in read] == [
        (False, None),
        (True, ASKED_AT.isoformat()),
    ]
    assert read[1].cost_usd == Decimal(0)
    assert len(dumped) == 1
    assert DEFAULT_API_KEY not in repr(dumped)  # the key is a header, never kept


async def test_only_with_an_empty_cache_holds_and_records_the_miss(
    database: Database, router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    outcome = await provider(client, database, CacheMode.ONLY).decide(context())

    assert router.calls == []
    assert outcome.decision is None
    (call,) = outcome.calls
    assert call.status == "error"
    assert call.error is not None
    assert "no cached reply" in call.error
    assert outcome.validation_error is not None
    assert "no cached reply" in outcome.validation_error


async def test_a_later_run_in_only_mode_replays_what_use_kept(
    database: Database, router: FakeOpenRouter, client: OpenRouterClient
) -> None:
    router.script(Reply.json(all_hold()))
    kept = await provider(client, database, CacheMode.USE).decide(context())

    replayed = await provider(client, database, CacheMode.ONLY).decide(context())

    assert len(router.requests) == 1
    assert replayed.decision == kept.decision
    assert [c.cached for c in replayed.calls] == [True]
