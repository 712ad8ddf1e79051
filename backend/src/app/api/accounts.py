"""``/api/v1/status`` and ``/api/v1/accounts``: the service, each account, its positions.

Balances and positions come from the account's exchange port when its agent runs (the
paper exchange in memory; AsterDEX for live accounts, cached for a few seconds so a busy
dashboard cannot spend the account's request weight), else from the newest snapshots.
"""

import time
from datetime import UTC, datetime
from typing import Annotated
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app import __version__
from app.agent.loop import AgentLoop
from app.agent.router import agent_read
from app.api.auth import FullAccess, ReadAccess
from app.api.deps import AccountDep, ContainerDep, ReadCacheDep, SessionDep
from app.api.errors import API_ERRORS, NotFound
from app.api.health import probe_database
from app.api.views import (
    AccountRead,
    BalanceRead,
    LimitsRead,
    PositionRead,
    StatusRead,
    positions_read,
)
from app.core.types import AccountId, TradingMode
from app.exchange.ports import AccountState, Exchange
from app.exchange.types import ExchangeOrder
from app.records import queries
from app.runtime.container import Container

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)
_CACHE_S = 2.0
_POSITIONS = TypeAdapter(list[PositionRead])
_cache: WeakKeyDictionary[Exchange, tuple[float, AccountState, list[ExchangeOrder]]] = (
    WeakKeyDictionary()
)


async def exchange_view(
    container: Container, account: AccountId, loop: AgentLoop
) -> tuple[AccountState, list[ExchangeOrder]]:
    """The account's state and open orders (from AsterDEX at most a few seconds old)."""
    exchange = loop.exchange
    # The supervisor knows the account's mode: a live account's exchange is AsterDEX, whose
    # reads cost request weight; a paper exchange answers from memory.
    live = container.supervisor.account_status(account).trading_mode is TradingMode.LIVE
    if not live:
        return await exchange.account_state(), await exchange.open_orders()
    cached = _cache.get(exchange)
    if cached is not None and time.monotonic() - cached[0] < _CACHE_S:
        return cached[1], cached[2]
    state = await exchange.account_state()
    orders = await exchange.open_orders()
    _cache[exchange] = (time.monotonic(), state, orders)
    return state, orders


@router.get("/status", tags=["status"], summary="Service status")
async def get_status(container: ContainerDep, role: ReadAccess) -> StatusRead:
    """Mode, version, every account's agent, the database and TimescaleDB state.

    ``access`` is the role of the token that asked, so a dashboard can hide the controls a
    read token may not use.
    """
    database, timescale, _error = await probe_database(container)
    agents = [
        agent_read(s, container.supervisor.market_source) for s in container.supervisor.status()
    ]
    modes = {a.trading_mode for a in agents}
    return StatusRead(
        version=__version__,
        environment=container.settings.environment.value,
        mode=modes.pop() if len(modes) == 1 else "mixed",
        market_data=container.supervisor.market_source,
        replay=container.options.replay,
        database=database,
        timescaledb=timescale,
        accounts=agents,
        access=role,
    )


async def _account(container: ContainerDep, session: SessionDep, account: AccountId) -> AccountRead:
    in_force = container.in_force
    settings = in_force.account(account)
    balance: BalanceRead | None = None
    loop = container.supervisor.loop(account)
    if loop is not None:
        state, _orders = await exchange_view(container, account, loop)
        balance = BalanceRead.from_state(state, datetime.now(UTC))
    else:
        snapshot = await queries.latest_equity(session, account)
        if snapshot is not None:
            balance = BalanceRead.from_snapshot(snapshot)
    return AccountRead(
        id=account,
        trading_mode=settings.trading_mode.value,
        llm_model=settings.llm_model,
        decider="llm" if settings.openrouter_api_key is not None else "rules",
        assets=list(settings.assets),
        limits=LimitsRead.from_settings(in_force, settings),
        agent=agent_read(
            container.supervisor.account_status(account), container.supervisor.market_source
        ),
        balance=balance,
    )


@router.get("/accounts", tags=["accounts"], summary="Every account")
async def list_accounts(
    container: ContainerDep, session: SessionDep, _: ReadAccess
) -> list[AccountRead]:
    """Each account's mode, model, assets, limits, agent state and balance."""
    return [await _account(container, session, a.id) for a in container.in_force.accounts]


@router.get("/accounts/{account_id}", tags=["accounts"], summary="One account")
async def get_account(
    account: AccountDep, container: ContainerDep, session: SessionDep, _: ReadAccess
) -> AccountRead:
    """Balance, equity, margin, mode, model, limits and agent state."""
    return await _account(container, session, account)


@router.get(
    "/accounts/{account_id}/positions",
    tags=["positions"],
    summary="Open positions",
    response_model=list[PositionRead],
)
async def list_positions(
    request: Request,
    account: AccountDep,
    container: ContainerDep,
    cache: ReadCacheDep,
    _: ReadAccess,
) -> Response:
    """Open positions with their protection orders and the thesis they rest on."""

    async def build() -> bytes:
        loop = container.supervisor.loop(account)
        if loop is None:
            return b"[]"
        state, orders = await exchange_view(container, account, loop)
        return _POSITIONS.dump_json(positions_read(state, orders, loop.theses()))

    return await cache.answer(request, account, build)


class CloseRequest(BaseModel):
    """Why the position is closed (kept in the journal)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    reason: str = Field(default="closed over the API", max_length=200)


class ControlRead(BaseModel):
    """What a control request did."""

    done: bool
    detail: str


def _running(container: ContainerDep, account: AccountId) -> AgentLoop:
    loop = container.supervisor.loop(account)
    if loop is None:
        raise NotFound(f"account {account!r} has no running agent")
    return loop


@router.post(
    "/accounts/{account_id}/positions/{symbol}/close",
    tags=["positions"],
    summary="Close one position at market",
)
async def close_position(
    account: AccountDep,
    container: ContainerDep,
    _: FullAccess,
    symbol: Annotated[str, Path(max_length=32, pattern=r"^[A-Z0-9]+$")],
    request: Annotated[CloseRequest | None, Body()] = None,
) -> ControlRead:
    """Reduce-only market close of the whole position; its protection is cancelled."""
    reason = (request or CloseRequest()).reason
    _cache.clear()
    if not await _running(container, account).close_symbol(symbol, reason):
        raise NotFound(f"account {account!r} has no open {symbol} position")
    return ControlRead(done=True, detail=f"{symbol} closed: {reason}")


@router.delete(
    "/accounts/{account_id}/orders/{client_order_id}",
    tags=["orders"],
    summary="Cancel one open order",
)
async def cancel_order(
    account: AccountDep,
    container: ContainerDep,
    _: FullAccess,
    client_order_id: Annotated[str, Path(max_length=36, pattern=r"^[\.A-Z\:/a-z0-9_-]{1,36}$")],
) -> ControlRead:
    """Cancel an open order by its client id (the guardian re-arms a cancelled stop)."""
    _cache.clear()
    if not await _running(container, account).cancel_order(client_order_id):
        raise NotFound(f"account {account!r} has no open order {client_order_id}")
    return ControlRead(done=True, detail=f"order {client_order_id} cancelled")
