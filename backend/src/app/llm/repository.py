"""SQL for LLM calls: every call persisted, and the day's spend per account."""

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import SessionFactory, session_scope
from app.llm.models import LlmCall
from app.llm.ports import LlmCallRecord


async def save_calls(
    session: AsyncSession, account_id: str, calls: Sequence[LlmCallRecord]
) -> list[uuid.UUID]:
    """Store every call of one decision; returns their ids in order."""
    rows = [
        LlmCall(
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
            created_at=c.started_at,
        )
        for c in calls
    ]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def spent_on(session: AsyncSession, account_id: str, day: date) -> Decimal:
    """Total cost of the account's calls on a UTC day (summed exactly, in Python)."""
    start = datetime.combine(day, time(), UTC)
    costs = await session.scalars(
        select(LlmCall.cost_usd).where(
            LlmCall.account_id == account_id,
            LlmCall.created_at >= start,
            LlmCall.created_at < start + timedelta(days=1),
        )
    )
    return sum((c for c in costs if c is not None), Decimal(0))


class DatabaseSpendLedger:
    """:class:`~app.llm.guard.SpendLedger` over the persisted ``llm_calls``."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def spent(self, account_id: str, day: date) -> Decimal:
        """The account's LLM spend on ``day``."""
        async with session_scope(self._sessions) as session:
            return await spent_on(session, account_id, day)
