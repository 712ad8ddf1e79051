"""``/api/v1/accounts/{id}/...``: the journal, read: orders, fills, decisions, LLM calls, events."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from app.api.auth import ReadAccess
from app.api.deps import AccountDep, ReadCacheDep, SessionDep
from app.api.errors import API_ERRORS, NotFound
from app.api.pagination import Page, PageDep
from app.api.read_cache import ReadCache
from app.api.schemas import (
    AdjustmentRead,
    DecisionDetail,
    DecisionSummary,
    EventRead,
    FillRead,
    LegRead,
    LlmCallPage,
    LlmCallRead,
    LlmTotals,
    OrderRead,
)
from app.core.types import AccountId
from app.records import queries


async def _cached_page[M: BaseModel](
    request: Request,
    cache: ReadCache,
    account: AccountId,
    model: type[M],
    fetch: Callable[[], Awaitable[tuple[Sequence[Any], str | None]]],
) -> Response:
    """One list page as JSON, from the read cache when the journal has not changed."""

    async def build() -> bytes:
        rows, cursor = await fetch()
        items = [model.model_validate(row) for row in rows]
        return Page[model](items=items, next_cursor=cursor).model_dump_json().encode()  # type: ignore[valid-type]

    return await cache.answer(request, account, build)


SymbolQuery = Annotated[
    str | None, Query(max_length=32, pattern=r"^[A-Z0-9]+$", description="e.g. BTCUSDT")
]
router = APIRouter(prefix="/api/v1/accounts/{account_id}", responses=API_ERRORS)


@router.get(
    "/orders",
    tags=["orders"],
    summary="Orders (history, or open ones)",
    response_model=Page[OrderRead],
)
async def list_orders(
    request: Request,
    account: AccountDep,
    cache: ReadCacheDep,
    session: SessionDep,
    page: PageDep,
    _: ReadAccess,
    symbol: SymbolQuery = None,
    open_only: Annotated[
        bool, Query(alias="open", description="Only orders still working or in flight")
    ] = False,
) -> Response:
    """The account's orders, newest first, each with its status history."""
    return await _cached_page(
        request,
        cache,
        account,
        OrderRead,
        lambda: queries.orders(session, account, page, open_only=open_only, symbol=symbol),
    )


@router.get("/fills", tags=["orders"], summary="Fills", response_model=Page[FillRead])
async def list_fills(
    request: Request,
    account: AccountDep,
    cache: ReadCacheDep,
    session: SessionDep,
    page: PageDep,
    _: ReadAccess,
    symbol: SymbolQuery = None,
) -> Response:
    """The account's executions, newest first."""
    return await _cached_page(
        request,
        cache,
        account,
        FillRead,
        lambda: queries.fills(session, account, page, symbol=symbol),
    )


@router.get(
    "/decisions", tags=["decisions"], summary="Decisions", response_model=Page[DecisionSummary]
)
async def list_decisions(
    request: Request,
    account: AccountDep,
    cache: ReadCacheDep,
    session: SessionDep,
    page: PageDep,
    _: ReadAccess,
) -> Response:
    """The account's decision cycles, newest first."""
    return await _cached_page(
        request,
        cache,
        account,
        DecisionSummary,
        lambda: queries.decisions(session, account, page),
    )


@router.get("/decisions/{decision_id}", tags=["decisions"], summary="One decision, whole")
async def get_decision(
    account: AccountDep, decision_id: uuid.UUID, session: SessionDep, _: ReadAccess
) -> DecisionDetail:
    """Everything a decision was made of and led to.

    The prompt and raw reply of every LLM call, the parsed decision, each leg's risk
    adjustments (with the rule that made them), and the orders and fills it led to.
    """
    record = await queries.decision(session, account, decision_id)
    if record is None:
        raise NotFound(f"account {account!r} has no decision {decision_id}")
    legs = [
        LegRead(
            id=leg.id,
            symbol=leg.symbol,
            action=leg.action,
            status=leg.status,
            requested=leg.requested,
            approved=leg.approved,
            adjustments=[AdjustmentRead.model_validate(a) for a in leg.adjustments],
            orders=[OrderRead.model_validate(o) for o in record.orders.get(leg.id, [])],
            fills=[
                FillRead.model_validate(f)
                for o in record.orders.get(leg.id, [])
                for f in record.fills.get(o.id, [])
            ],
        )
        for leg in record.legs
    ]
    summary = DecisionSummary.model_validate(record.decision)
    return DecisionDetail(
        **summary.model_dump(),
        parsed=record.decision.parsed,
        calls=[LlmCallRead.model_validate(c) for c in record.calls],
        legs=legs,
    )


@router.get("/llm-calls", tags=["decisions"], summary="LLM calls with token and cost totals")
async def list_llm_calls(
    account: AccountDep, session: SessionDep, page: PageDep, _: ReadAccess
) -> LlmCallPage:
    """Every call to the decision provider, newest first; totals cover the whole range."""
    rows, cursor = await queries.llm_calls(session, account, page)
    usage = await queries.llm_usage(session, account, page)
    return LlmCallPage(
        items=[LlmCallRead.model_validate(r) for r in rows],
        next_cursor=cursor,
        totals=LlmTotals(
            calls=usage.calls,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
        ),
    )


@router.get("/events", tags=["decisions"], summary="Agent events")
async def list_events(
    account: AccountDep,
    session: SessionDep,
    page: PageDep,
    _: ReadAccess,
    type_: Annotated[
        str | None,
        Query(alias="type", max_length=64, description="Only this type, e.g. risk.halt"),
    ] = None,
) -> Page[EventRead]:
    """What the agent did and why (skips, alerts, recovery, kill switches), newest first."""
    rows, cursor = await queries.events(session, account, page, kind=type_)
    return Page(items=[EventRead.model_validate(r) for r in rows], next_cursor=cursor)
