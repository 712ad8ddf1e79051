"""The stages of one cycle, as values: what was observed, what was decided, what to act on.

A cycle is observe -> decide -> judge -> act (:meth:`app.agent.loop.AgentLoop.tick`). The
first three only read the world and journal what they saw and concluded; only *act* sends
orders, and it does so through an :class:`ExecutionPolicy` the loop is given: automatic
today, an approval queue or a backtest's bookkeeping later, without touching the loop.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from app.agent.execution import Executor
from app.agent.guardian import UnmanagedPolicy
from app.agent.theses import Theses
from app.exchange.ports import AccountState
from app.exchange.types import OrderType
from app.indicators.schemas import AssetFeatures
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome
from app.market_data.ports import MarkState
from app.trading.domain import LegVerdict, MarketSnapshot, RiskLimits, RiskState


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What one account's loop trades, and how."""

    account_id: str
    symbols: Mapping[str, str]  # asset -> symbol
    interval: str
    long_interval: str
    limits: RiskLimits
    grace: timedelta = timedelta(seconds=5)
    entry_type: OrderType = OrderType.MARKET
    unmanaged_policy: UnmanagedPolicy = "adopt"


@dataclass(slots=True)
class TickOutcome:
    """What one cycle did, for logs, tests, progress and the API."""

    at: datetime
    skipped: str | None = None
    orders_sent: int = 0
    fills: int = 0
    closed_by_invalidation: list[str] = field(default_factory=list)
    decided: bool = False
    held: list[str] = field(default_factory=list)
    """Symbols whose approved legs the execution policy kept back."""


@dataclass(frozen=True, slots=True)
class CycleInputs:
    """The world as one cycle sees it, read once (observe)."""

    at: datetime
    candle_time: datetime
    """Open time of the closed candle this cycle decides on."""
    state: AccountState
    features: Mapping[str, AssetFeatures]
    marks: Mapping[str, MarkState | None]
    markets: Mapping[str, MarketSnapshot]
    """What the risk engine needs per symbol: mark, ATR, exchange filters."""
    risk: RiskState


@dataclass(frozen=True, slots=True)
class Judgement:
    """The provider's decision and the risk engine's verdict on each proposal (judge)."""

    decided: DecisionOutcome
    legs: Sequence[ParsedLeg]
    verdicts: Sequence[LegVerdict]


@dataclass(frozen=True, slots=True)
class ApprovedLeg:
    """One verdict with orders, journaled, ready to act on."""

    verdict: LegVerdict
    leg: ParsedLeg | None
    leg_id: uuid.UUID
    client_prefix: str
    """The client-order-id prefix of its orders (:mod:`app.agent.order_ids`)."""
    mark_price: Decimal


@dataclass(slots=True)
class ActReport:
    """What an execution policy did."""

    orders_sent: int = 0
    held: list[str] = field(default_factory=list)
    """Symbols whose legs the policy kept back (e.g. awaiting approval)."""


class ExecutionPolicy(Protocol):
    """How approved legs become orders (act)."""

    async def act(
        self, executor: Executor, legs: Sequence[ApprovedLeg], theses: Theses, now: datetime
    ) -> ActReport:
        """Act on the approved legs of one decision."""
        ...


class AutomaticExecution:
    """Send every approved leg at once (live and paper trading, backtests)."""

    async def act(
        self, executor: Executor, legs: Sequence[ApprovedLeg], theses: Theses, now: datetime
    ) -> ActReport:
        """Send each leg's orders in the order the decision gave them."""
        report = ActReport()
        for approved in legs:
            # A thesis belongs to the position, not to this leg: a reduction or a close
            # that did not fill keeps it; the guardian drops it once the position is gone.
            report.orders_sent += await executor.execute(
                approved.verdict,
                approved.client_prefix,
                approved.leg_id,
                now,
                approved.leg,
                approved.mark_price,
                theses,
            )
        return report
