"""SQL for LLM calls: every call persisted, and the day's spend per account and run.

Spend is per run: a backtest's calls (:mod:`app.trading.runs`) never count against the daily
budget of the account it reuses the id of, nor the account's against the backtest's.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import SessionFactory, session_scope
from app.llm.models import LlmCall
from app.llm.ports import LlmCallRecord
from app.trading.runs import ACCOUNT_RUN


async def save_calls(
    session: AsyncSession,
    account_id: str,
    calls: Sequence[LlmCallRecord],
    *,
    run_id: str = ACCOUNT_RUN,
) -> list[uuid.UUID]:
    """Store every call of one decision in ``run_id``; returns their ids in order."""
    rows = [
        LlmCall(
            run_id=run_id,
            account_id=account_id,
            provider=c.provider,
            model=c.model,
            prompt=c.prompt,
            prompt_hash=c.prompt_hash,
            raw_reply=c.raw_reply,
            generation_id=c.generation_id,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            cost_usd=c.cost_usd,
            latency_ms=c.latency_ms,
            status=c.status,
            error=c.error,
            attempt=c.attempt,
            cache_hit=c.cached,
            cached_from=c.cached_from,
            created_at=c.started_at,
        )
        for c in calls
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def spent_on(
    session: AsyncSession, account_id: str, day: date, *, run_id: str = ACCOUNT_RUN
) -> Decimal:
    """Total cost of the account's calls in ``run_id`` on a UTC day (summed exactly, in Python)."""
    start = datetime.combine(day, time(), UTC)
    costs = await session.scalars(
        select(LlmCall.cost_usd).where(
            LlmCall.run_id == run_id,
            LlmCall.account_id == account_id,
            LlmCall.created_at >= start,
            LlmCall.created_at < start + timedelta(days=1),
        )
    )
    return sum((c for c in costs if c is not None), Decimal(0))


class DatabaseSpendLedger:
    """:class:`~app.llm.guard.SpendLedger` over the persisted ``llm_calls`` of one run.

    Args:
        sessions: Where the calls are.
        run_id: The run whose spend counts (:mod:`app.trading.runs`).
    """

    def __init__(self, sessions: SessionFactory, *, run_id: str = ACCOUNT_RUN) -> None:
        self._sessions = sessions
        self._run_id = run_id

    async def spent(self, account_id: str, day: date) -> Decimal:
        """The account's LLM spend in this run on ``day``."""
        async with session_scope(self._sessions) as session:
            return await spent_on(session, account_id, day, run_id=self._run_id)
