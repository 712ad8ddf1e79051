"""Decision-engine state on PostgreSQL: LLM calls and spend, a daily-loss halt across restarts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.config._values import normalise_database_url
from app.core.types import AccountId, TradingMode
from app.db.engine import create_engine
from app.db.session import create_session_factory, session_scope
from app.llm.ports import LlmCallRecord
from app.llm.repository import DatabaseSpendLedger, save_calls
from app.trading.domain import RiskLimits
from app.trading.repository import load_risk_state, save_risk_state, sync_accounts
from app.trading.risk import record_stop_out, roll_day

from .conftest import Database

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 4, 1, 15, tzinfo=UTC)
LIMITS = RiskLimits(Decimal(10_000), Decimal(2), Decimal(30_000))


def call(cost: str, when: datetime, status: str = "ok") -> LlmCallRecord:
    return LlmCallRecord(
        provider="openrouter",
        model="x-ai/grok-4",
        prompt="[system]\n...",
        prompt_hash="ab" * 32,
        raw_reply='{"decisions": []}',
        status=status,
        started_at=when,
        latency_ms=900,
        prompt_tokens=1500,
        completion_tokens=700,
        cost_usd=Decimal(cost),
        generation_id="gen-1",
    )


async def test_llm_calls_are_stored_and_the_days_spend_is_exact(pg: Database) -> None:
    async with session_scope(pg.sessions) as session:
        await sync_accounts(session, [(AccountId("alice"), TradingMode.PAPER)])
        ids = await save_calls(
            session,
            "alice",
            [
                call("0.012036", NOW),
                call("0.000001", NOW + timedelta(minutes=1), "invalid"),
                call("9", NOW - timedelta(days=1)),
            ],
        )

    spent = await DatabaseSpendLedger(pg.sessions).spent("alice", NOW.date())

    assert len(ids) == 3
    assert spent == Decimal("0.012037")


async def test_a_daily_loss_halt_survives_a_restart(pg: Database) -> None:
    state = roll_day(None, Decimal(10_000), NOW.replace(hour=0), LIMITS)
    state = record_stop_out(state, "BTCUSDT", NOW - timedelta(hours=2))
    state = roll_day(state, Decimal(9_400), NOW, LIMITS)
    assert state.halted
    async with session_scope(pg.sessions) as session:
        await sync_accounts(session, [(AccountId("bob"), TradingMode.LIVE)])
        await save_risk_state(session, "bob", state, NOW)

    # A new process: new engine, new sessions.
    engine = create_engine(normalise_database_url(pg.url))
    try:
        async with session_scope(create_session_factory(engine)) as session:
            restored = await load_risk_state(session, "bob")
    finally:
        await engine.dispose()

    assert restored == state
    assert restored is not None
    assert restored.halted
    assert "6.00%" in (restored.halt_reason or "")
    assert roll_day(restored, Decimal(9_400), NOW + timedelta(hours=1), LIMITS).halted
    assert not roll_day(restored, Decimal(9_400), NOW + timedelta(days=1), LIMITS).halted
