"""``/api/v1/accounts/{id}/agent`` and the kill switches: minimal control of the agents."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from app.agent.supervisor import AgentState, AgentStatus
from app.api.auth import FullAccess, ReadAccess
from app.api.deps import ContainerDep
from app.api.errors import API_ERRORS
from app.core.types import AccountId

router = APIRouter(prefix="/api/v1", tags=["agents"])


class AgentRead(BaseModel):
    """One account's agent."""

    account_id: str
    trading_mode: str
    state: AgentState
    detail: str
    market_data: str = Field(description="Where prices come from: AsterDEX or a replay")


class KillRequest(BaseModel):
    """Kill-switch options."""

    # A misspelt option must not be dropped silently: {"flaten": true} would halt without
    # flattening.
    model_config = ConfigDict(extra="forbid")

    flatten: bool = Field(default=False, description="Also close every position at market")
    reason: str = Field(default="operator kill switch", max_length=200)


def agent_read(status: AgentStatus, market_data: str) -> AgentRead:
    """The API view of one agent status."""
    return AgentRead(
        account_id=status.account_id,
        trading_mode=status.trading_mode.value,
        state=status.state,
        detail=status.detail,
        market_data=market_data,
    )


@router.get("/accounts/{account_id}/agent", summary="Agent state", responses=API_ERRORS)
async def get_agent(account_id: str, container: ContainerDep, _: ReadAccess) -> AgentRead:
    """The account's agent state and why."""
    return agent_read(
        container.supervisor.account_status(AccountId(account_id)),
        container.supervisor.market_source,
    )


@router.post(
    "/accounts/{account_id}/agent/{action}",
    summary="Start, pause, stop or run a cycle",
    responses=API_ERRORS,
)
async def control_agent(
    account_id: str,
    action: Literal["start", "pause", "stop", "cycle"],
    container: ContainerDep,
    _: FullAccess,
) -> AgentRead:
    """``start`` also releases a kill switch; ``pause``/``stop`` persist across restarts."""
    supervisor, account = container.supervisor, AccountId(account_id)
    if action == "start":
        return agent_read(await supervisor.resume(account), container.supervisor.market_source)
    if action == "cycle":
        return agent_read(await supervisor.cycle(account), container.supervisor.market_source)
    state = AgentState.PAUSED if action == "pause" else AgentState.STOPPED
    return agent_read(
        await supervisor.hold(account, state, f"{action} requested over the API"),
        container.supervisor.market_source,
    )


@router.post(
    "/accounts/{account_id}/kill", summary="Kill switch of one account", responses=API_ERRORS
)
async def kill_account(
    account_id: str,
    container: ContainerDep,
    _: FullAccess,
    request: Annotated[KillRequest | None, Body()] = None,
) -> AgentRead:
    """Halt the loop, cancel open orders, optionally flatten; stays halted until started."""
    request = request or KillRequest()
    return agent_read(
        await container.supervisor.kill(
            AccountId(account_id), flatten=request.flatten, reason=request.reason
        ),
        container.supervisor.market_source,
    )


@router.post("/kill", summary="Global kill switch", responses=API_ERRORS)
async def kill_all(
    container: ContainerDep,
    _: FullAccess,
    request: Annotated[KillRequest | None, Body()] = None,
) -> list[AgentRead]:
    """Every account's kill switch at once."""
    request = request or KillRequest()
    statuses = await container.supervisor.kill_all(flatten=request.flatten, reason=request.reason)
    return [agent_read(s, container.supervisor.market_source) for s in statuses]
