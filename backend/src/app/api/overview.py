"""``/api/v1/accounts/{id}/overview``: what a trader sees first, in one read.

Every time here is the account's clock: a replay's simulated time (which runs fast) when the
account has a loop, never the wall clock then, so "today" and "stale" mean the same day and
the same age the agent itself works with.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.agent.router import agent_read
from app.agent.supervisor import FINISHED, AgentState
from app.api.accounts import exchange_view
from app.api.auth import ReadAccess
from app.api.deps import AccountDep, ContainerDep, SessionDep
from app.api.errors import API_ERRORS
from app.api.views import LimitsRead, PositionRead, positions_read
from app.core.clock import Clock, SystemClock
from app.core.decimals import PlainDecimal
from app.core.types import interval_delta
from app.db.paging import PageRequest
from app.llm.repository import spent_on
from app.records import queries
from app.trading.domain import RiskState
from app.trading.repository import load_risk_state

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)

AlertKind = Literal["halt", "protection_missing", "loop_stopped", "stale_data"]
STALE_AFTER_BARS = 2
"""A running agent with no decision for this many bars of INTERVAL is reported stale."""


class AlertRead(BaseModel):
    """Something that needs a human's attention now."""

    kind: AlertKind = Field(
        description="halt (daily-loss halt today), protection_missing (a position without a"
        " working stop), loop_stopped (the agent is not running and no operator paused it),"
        " stale_data (the running agent made no decision for 2 x INTERVAL)"
    )
    severity: Literal["critical", "warning"]
    message: str = Field(description="One line, human readable")


class OverviewRead(BaseModel):
    """One account at a glance: mode, agent, money, risk, LLM spend and alerts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account_id": "default",
                    "trading_mode": "paper",
                    "market_data": "AsterDEX market data",
                    "replay": False,
                    "agent_state": "running",
                    "agent_detail": "running",
                    "decider": "llm",
                    "llm_model": "x-ai/grok-4",
                    "interval": "1h",
                    "long_interval": "4h",
                    "now": "2026-11-25T10:00:05Z",
                    "equity": "10012.5",
                    "wallet_balance": "10000",
                    "unrealized_pnl": "12.5",
                    "today_pnl": "12.5",
                    "day_start_equity": "10000",
                    "exposure_usd": "2983.6",
                    "max_total_exposure_usd": "30000",
                    "open_positions": 1,
                    "llm_spend_today_usd": "0.042",
                    "llm_daily_budget_usd": "5",
                    "last_decision_at": "2026-11-25T10:00:05Z",
                    "alerts": [],
                }
            ]
        }
    )

    account_id: str
    trading_mode: str = Field(description="live or paper")
    market_data: str = Field(description="Where prices come from: AsterDEX or a replay")
    replay: bool = Field(description="The service runs on recorded candles (--replay)")
    agent_state: AgentState
    agent_detail: str = Field(description="Why the agent is in its state")
    decider: Literal["llm", "rules"] = Field(description="rules when no OpenRouter key is set")
    llm_model: str
    interval: str = Field(description="INTERVAL: one decision per closed candle of it")
    long_interval: str = Field(description="LONG_INTERVAL: the context timeframe")
    now: datetime = Field(
        description="The account's clock (a replay's simulated time; else the wall clock, UTC)"
    )
    equity: PlainDecimal | None = Field(description="None before anything was observed")
    wallet_balance: PlainDecimal | None
    unrealized_pnl: PlainDecimal | None
    today_pnl: PlainDecimal | None = Field(
        description="equity - day_start_equity on the clock's UTC day; None before its first cycle"
    )
    day_start_equity: PlainDecimal | None = Field(
        description="Equity at the clock's UTC day's first look (the daily-loss base)"
    )
    exposure_usd: PlainDecimal = Field(description="Sum of |quantity x mark price| of positions")
    max_total_exposure_usd: PlainDecimal = Field(description="The exposure limit in force")
    open_positions: int
    llm_spend_today_usd: PlainDecimal = Field(
        description="Cost of the account's LLM calls on the clock's UTC day"
    )
    llm_daily_budget_usd: PlainDecimal | None = Field(
        description="LLM_DAILY_BUDGET_USD in force; None: no budget"
    )
    last_decision_at: datetime | None = Field(description="When the newest decision was made")
    alerts: list[AlertRead] = Field(description="Critical ones first")


def overview_alerts(
    *,
    state: AgentState,
    detail: str,
    risk: RiskState | None,
    positions: Sequence[PositionRead],
    now: datetime,
    interval: str,
    last_decision_at: datetime | None,
) -> list[AlertRead]:
    """What needs attention, critical alerts first (pure: every time comes in as a value).

    Args:
        state: The agent's state, as the supervisor reports it.
        detail: The supervisor's reason for that state.
        risk: The account's persisted risk state (its halt counts on its own day only).
        positions: The open positions with their protection.
        now: The account's clock.
        interval: INTERVAL, the bar a decision is due on.
        last_decision_at: The newest decision's time, if any.
    """
    alerts: list[AlertRead] = []
    if risk is not None and risk.halted and risk.day == now.date():
        reason = risk.halt_reason or "entries halted for the rest of the day"
        alerts.append(AlertRead(kind="halt", severity="critical", message=reason))
    unprotected = [p.symbol for p in positions if not p.protected]
    if unprotected:
        alerts.append(
            AlertRead(
                kind="protection_missing",
                severity="critical",
                message=f"no working stop-loss on {', '.join(unprotected)}",
            )
        )
    # Paused (by an operator, AGENT_PAUSED, or standing by for another replica) is a choice
    # or a wait, not a failure; anything else that is not running needs someone.
    if state is AgentState.STOPPED and detail == FINISHED:
        # A replay that played its whole recording ended as asked: worth saying, not urgent.
        alerts.append(
            AlertRead(
                kind="loop_stopped",
                severity="warning",
                message="the replay reached the end of its recording (restart to replay again)",
            )
        )
    elif state not in {AgentState.RUNNING, AgentState.PAUSED}:
        alerts.append(AlertRead(kind="loop_stopped", severity="critical", message=detail))
    elif state is AgentState.RUNNING and last_decision_at is not None:
        age = now - last_decision_at
        if age > STALE_AFTER_BARS * interval_delta(interval):
            alerts.append(
                AlertRead(
                    kind="stale_data",
                    severity="warning",
                    message=f"no decision since {last_decision_at.isoformat()} ({_hours(age)}"
                    f" ago, INTERVAL {interval})",
                )
            )
    return alerts


def _hours(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.1f} h"


@router.get(
    "/accounts/{account_id}/overview", tags=["accounts"], summary="What a trader sees first"
)
async def get_overview(
    account: AccountDep, container: ContainerDep, session: SessionDep, _: ReadAccess
) -> OverviewRead:
    """Mode, agent, equity, today's PnL, exposure, LLM spend and what needs attention."""
    in_force = container.in_force
    settings = in_force.account(account)
    supervisor = container.supervisor
    agent = agent_read(supervisor.account_status(account), supervisor.market_source)
    loop = supervisor.loop(account)
    clock: Clock
    if loop is not None:
        clock, interval = loop.clock, loop.config.interval
        long_interval = loop.config.long_interval
    else:
        # No loop (the account cannot run): the run's clock when agents were built (a
        # replay's), else the wall clock.
        runtime = container.runtime
        clock = runtime.shared.clock if runtime is not None else SystemClock()
        interval, long_interval = in_force.interval, in_force.long_interval
    now = clock.now().astimezone(UTC)
    today = now.date()

    equity = wallet = unrealized = None
    positions: list[PositionRead] = []
    if loop is not None:
        state, orders = await exchange_view(container, account, loop)
        equity, wallet, unrealized = state.equity, state.wallet_balance, state.unrealized_pnl
        positions = positions_read(state, orders, loop.theses())
    else:
        snapshot = await queries.latest_equity(session, account)
        if snapshot is not None:
            equity, wallet = snapshot.equity, snapshot.wallet_balance
            unrealized = snapshot.unrealized_pnl

    risk = await load_risk_state(session, account)
    day_start = risk.day_start_equity if risk is not None and risk.day == today else None
    newest, _cursor = await queries.decisions(session, account, PageRequest(limit=1))
    last_decision_at = newest[0].created_at if newest else None
    return OverviewRead(
        account_id=account,
        trading_mode=settings.trading_mode.value,
        market_data=agent.market_data,
        replay=container.options.replay,
        agent_state=agent.state,
        agent_detail=agent.detail,
        decider="llm" if settings.openrouter_api_key is not None else "rules",
        llm_model=settings.llm_model,
        interval=interval,
        long_interval=long_interval,
        now=now,
        equity=equity,
        wallet_balance=wallet,
        unrealized_pnl=unrealized,
        today_pnl=equity - day_start if equity is not None and day_start is not None else None,
        day_start_equity=day_start,
        exposure_usd=sum((p.quantity * p.mark_price for p in positions), Decimal(0)),
        max_total_exposure_usd=LimitsRead.from_settings(in_force, settings).max_total_exposure_usd,
        open_positions=len(positions),
        llm_spend_today_usd=await spent_on(session, account, today),
        llm_daily_budget_usd=in_force.llm_daily_budget_usd,
        last_decision_at=last_decision_at,
        alerts=overview_alerts(
            state=agent.state,
            detail=agent.detail,
            risk=risk,
            positions=positions,
            now=now,
            interval=interval,
            last_decision_at=last_decision_at,
        ),
    )
