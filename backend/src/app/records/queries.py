"""Read queries over the trading journal for the API: orders, fills, decisions, LLM calls.

Lists are keyset-paginated, newest first (:mod:`app.db.paging`); totals are computed over
the whole filtered range, not one page.

Every query reads one run (:mod:`app.trading.runs`): the account's own trading unless
``run_id`` names another (a backtest's), so an account's views never show a backtest's records.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent.models import AgentEvent
from app.db.paging import PageRequest, fetch_page
from app.llm.models import LlmCall
from app.trading.models import Decision, DecisionLeg, EquitySnapshot, Fill, Order
from app.trading.runs import ACCOUNT_RUN

OPEN_STATUSES: Final = ("intent", "unknown", "NEW", "PARTIALLY_FILLED")


async def orders(
    session: AsyncSession,
    account_id: str,
    page: PageRequest,
    *,
    open_only: bool = False,
    symbol: str | None = None,
    run_id: str = ACCOUNT_RUN,
) -> tuple[Sequence[Order], str | None]:
    """Orders of the account in ``run_id`` (open ones only with ``open_only``)."""
    query = select(Order).where(Order.run_id == run_id, Order.account_id == account_id)
    if open_only:
        query = query.where(Order.status.in_(OPEN_STATUSES))
    if symbol is not None:
        query = query.where(Order.symbol == symbol)
    return await fetch_page(session, query, page, Order.created_at, Order.id, uuid.UUID)


async def fills(
    session: AsyncSession,
    account_id: str,
    page: PageRequest,
    *,
    symbol: str | None = None,
    run_id: str = ACCOUNT_RUN,
) -> tuple[Sequence[Fill], str | None]:
    """Fills of the account in ``run_id``."""
    query = select(Fill).where(Fill.run_id == run_id, Fill.account_id == account_id)
    if symbol is not None:
        query = query.where(Fill.symbol == symbol)
    return await fetch_page(session, query, page, Fill.filled_at, Fill.id, uuid.UUID)


async def decisions(
    session: AsyncSession, account_id: str, page: PageRequest, *, run_id: str = ACCOUNT_RUN
) -> tuple[Sequence[Decision], str | None]:
    """Decisions of the account in ``run_id``."""
    query = select(Decision).where(Decision.run_id == run_id, Decision.account_id == account_id)
    return await fetch_page(session, query, page, Decision.created_at, Decision.id, uuid.UUID)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision with its calls, legs, each leg's orders and each order's fills."""

    decision: Decision
    calls: list[LlmCall]
    legs: list[DecisionLeg]
    orders: dict[uuid.UUID, list[Order]]
    fills: dict[uuid.UUID, list[Fill]]


async def decision(
    session: AsyncSession, account_id: str, decision_id: uuid.UUID, *, run_id: str = ACCOUNT_RUN
) -> DecisionRecord | None:
    """Everything one decision led to, or None when the account has no such decision in the run.

    What hangs off the decision (calls, legs, orders, fills) is of its run by construction;
    the run is checked on each anyway, so a mislinked row of another run never shows.
    """
    found = await session.scalar(
        select(Decision).where(
            Decision.id == decision_id,
            Decision.run_id == run_id,
            Decision.account_id == account_id,
        )
    )
    if found is None:
        return None
    calls = list(
        await session.scalars(
            select(LlmCall)
            .where(LlmCall.decision_id == decision_id, LlmCall.run_id == run_id)
            .order_by(LlmCall.created_at)
        )
    )
    if not calls and found.llm_call_id is not None:  # decisions stored before the link
        linked = await session.get(LlmCall, found.llm_call_id)
        calls = [linked] if linked is not None and linked.run_id == run_id else []
    legs = list(
        await session.scalars(
            select(DecisionLeg)
            .where(DecisionLeg.decision_id == decision_id)
            .order_by(DecisionLeg.symbol)
        )
    )
    leg_ids = [leg.id for leg in legs]
    order_rows = list(
        await session.scalars(
            select(Order)
            .where(Order.decision_leg_id.in_(leg_ids), Order.run_id == run_id)
            .order_by(Order.created_at)
        )
    )
    by_leg: dict[uuid.UUID, list[Order]] = {}
    for order in order_rows:
        assert order.decision_leg_id is not None
        by_leg.setdefault(order.decision_leg_id, []).append(order)
    fill_rows = list(
        await session.scalars(
            select(Fill)
            .where(Fill.order_id.in_([o.id for o in order_rows]), Fill.run_id == run_id)
            .order_by(Fill.filled_at)
        )
    )
    by_order: dict[uuid.UUID, list[Fill]] = {}
    for fill in fill_rows:
        assert fill.order_id is not None
        by_order.setdefault(fill.order_id, []).append(fill)
    return DecisionRecord(found, calls, legs, by_leg, by_order)


async def llm_calls(
    session: AsyncSession, account_id: str, page: PageRequest, *, run_id: str = ACCOUNT_RUN
) -> tuple[Sequence[LlmCall], str | None]:
    """LLM calls of the account in ``run_id``."""
    query = select(LlmCall).where(LlmCall.run_id == run_id, LlmCall.account_id == account_id)
    return await fetch_page(session, query, page, LlmCall.created_at, LlmCall.id, uuid.UUID)


@dataclass(frozen=True, slots=True)
class LlmUsage:
    """Token and cost totals of a range of calls."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal


async def llm_usage(
    session: AsyncSession, account_id: str, page: PageRequest, *, run_id: str = ACCOUNT_RUN
) -> LlmUsage:
    """Totals of the account's calls in ``run_id`` over the page's time range (every page)."""
    query = select(LlmCall.prompt_tokens, LlmCall.completion_tokens, LlmCall.cost_usd).where(
        LlmCall.run_id == run_id, LlmCall.account_id == account_id
    )
    if page.start is not None:
        query = query.where(LlmCall.created_at >= page.start)
    if page.end is not None:
        query = query.where(LlmCall.created_at < page.end)
    rows = (await session.execute(query)).all()
    # Summed in Python: SQLite keeps decimals as text, and the numbers of calls are small.
    return LlmUsage(
        calls=len(rows),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in rows),
        completion_tokens=sum(r.completion_tokens or 0 for r in rows),
        cost_usd=sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0)),
    )


async def events(
    session: AsyncSession,
    account_id: str,
    page: PageRequest,
    *,
    kind: str | None = None,
    run_id: str = ACCOUNT_RUN,
) -> tuple[Sequence[AgentEvent], str | None]:
    """Agent events of the account in ``run_id`` (of one type with ``kind``)."""
    query = select(AgentEvent).where(
        AgentEvent.run_id == run_id, AgentEvent.account_id == account_id
    )
    if kind is not None:
        query = query.where(AgentEvent.type == kind)
    return await fetch_page(session, query, page, AgentEvent.occurred_at, AgentEvent.id, uuid.UUID)


async def latest_equity(
    session: AsyncSession, account_id: str, *, run_id: str = ACCOUNT_RUN
) -> EquitySnapshot | None:
    """The account's newest equity snapshot in ``run_id``."""
    newest: EquitySnapshot | None = await session.scalar(
        select(EquitySnapshot)
        .where(EquitySnapshot.run_id == run_id, EquitySnapshot.account_id == account_id)
        .order_by(EquitySnapshot.taken_at.desc())
        .limit(1)
    )
    return newest


async def decision_count(
    session: AsyncSession, account_id: str, *, run_id: str = ACCOUNT_RUN
) -> int:
    """How many decisions the account has made in ``run_id``."""
    count = await session.scalar(
        select(func.count())
        .select_from(Decision)
        .where(Decision.run_id == run_id, Decision.account_id == account_id)
    )
    return int(count or 0)
