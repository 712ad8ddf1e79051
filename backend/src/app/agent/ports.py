"""The journal port: everything the agent loop and its helpers write and read back.

Two implementations keep the same contract (``tests/contract/test_journal_port.py``):
:class:`~app.records.sql_journal.SqlJournal` (the database, for live and paper accounts) and
:class:`~app.records.memory_journal.MemoryJournal` (in memory, for backtests and fast tests).

Every write carries the clock's time (``at``), never the wall clock's: a replay or a backtest
stamps its records with the simulated time, so date-range queries over them stay consistent.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from app.exchange.ports import AccountState, Execution
from app.exchange.types import ExchangeOrder, OrderRequest
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome
from app.trading.domain import LegVerdict, RiskState

# Statuses whose outcome on the exchange may still change or is not known yet.
IN_FLIGHT: Final = ("intent", "unknown")
OPEN: Final = ("NEW", "PARTIALLY_FILLED")


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A journaled order whose final state the journal does not know."""

    client_order_id: str
    symbol: str
    status: str
    purpose: str
    intent_at: datetime


@dataclass(frozen=True, slots=True)
class SavedThesis:
    """What the newest filled entry of a symbol said: the thesis its position rests on."""

    invalidation: str | None
    rationale: str
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_at: datetime


class Journal(Protocol):
    """Writes (and reads back) one run's trading records, linked for audit.

    Decision (with its LLM calls) -> legs -> orders (intent written *before* sending, then
    each status) -> fills; plus events, equity and position snapshots, the risk state, the
    paper exchange's state and the operator state.
    """

    async def event(
        self,
        account_id: str | None,
        kind: str,
        message: str,
        *,
        at: datetime,
        severity: str = "info",
        payload: dict[str, Any] | None = None,
        decision_id: uuid.UUID | None = None,
    ) -> None:
        """Append one event."""
        ...

    async def decision(
        self,
        account_id: str,
        outcome: DecisionOutcome,
        legs: Sequence[ParsedLeg],
        verdicts: Sequence[LegVerdict],
        *,
        candle_time: datetime | None,
        at: datetime,
    ) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """Store a decision with its LLM calls and one leg per verdict; their ids."""
        ...

    async def order_intent(
        self,
        account_id: str,
        leg_id: uuid.UUID | None,
        request: OrderRequest,
        purpose: str,
        at: datetime,
    ) -> None:
        """Write the order *before* it is sent (status ``intent``); idempotent on client id."""
        ...

    async def order_update(
        self,
        order: ExchangeOrder | None,
        client_order_id: str,
        at: datetime,
        *,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what the exchange says about an order (or why it was not placed)."""
        ...

    async def fills(self, account_id: str, executions: Sequence[Execution]) -> list[Execution]:
        """Store fills (idempotent on the exchange trade id); returns the new ones."""
        ...

    async def snapshot(self, account_id: str, state: AccountState, at: datetime) -> None:
        """Equity and every position at ``at`` (idempotent per time)."""
        ...

    async def risk_state(self, account_id: str) -> RiskState | None:
        """The persisted risk state."""
        ...

    async def save_risk_state(self, account_id: str, state: RiskState, *, at: datetime) -> None:
        """Persist the risk state as of ``at``."""
        ...

    async def paper_state(self, account_id: str) -> dict[str, Any] | None:
        """The paper exchange's saved state."""
        ...

    async def save_paper_state(self, account_id: str, state: dict[str, Any]) -> None:
        """Persist the paper exchange's state."""
        ...

    async def control(self, account_id: str) -> tuple[str, str | None] | None:
        """The persisted operator state (state, reason) of the account's agent."""
        ...

    async def save_control(
        self, account_id: str, state: str, reason: str | None, *, at: datetime
    ) -> None:
        """Persist the operator state of the account's agent."""
        ...

    async def entry_theses(self, account_id: str, symbols: Sequence[str]) -> dict[str, SavedThesis]:
        """Per symbol, the newest entry that filled at all (a partial fill counts)."""
        ...

    async def pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first."""
        ...

    async def last_fill_time(self, account_id: str) -> datetime | None:
        """When the account's newest journaled fill happened."""
        ...
