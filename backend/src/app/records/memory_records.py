"""The records the in-memory journal keeps: the shapes of the SQL rows, frozen."""

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.llm.ports import LlmCallRecord
from app.records.journal_rows import to_json
from app.trading.domain import RiskState


class JournalIntegrityError(ValueError):
    """A write the database would refuse (a dangling reference, a duplicate leg)."""


@dataclass(frozen=True, slots=True)
class JournalEvent:
    """One agent event (message and payload redacted)."""

    account_id: str | None
    kind: str
    severity: str
    message: str
    payload: dict[str, Any]
    decision_id: uuid.UUID | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class JournalLeg:
    """One leg of a decision: requested, approved, every adjustment (the SQL row's shape)."""

    id: uuid.UUID
    decision_id: uuid.UUID
    symbol: str
    action: str
    requested: dict[str, Any]
    approved: dict[str, Any] | None
    adjustments: list[Any]
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JournalDecision:
    """One decision with every LLM call of its cycle (redacted) and its legs."""

    id: uuid.UUID
    account_id: str
    created_at: datetime
    provider: str
    model: str | None
    prompt_version: str | None
    candle_time: datetime | None
    status: str
    summary: str | None
    parsed: dict[str, Any]
    validation_error: str | None
    calls: tuple[LlmCallRecord, ...]
    legs: tuple[JournalLeg, ...]


@dataclass(frozen=True, slots=True)
class JournalOrder:
    """An order as journaled: its intent, then what the exchange said (the SQL row's shape).

    ``status_history`` holds ``{"status", "at"[, "reason"]}`` per transition, ``at`` as the
    ISO text of the time the writer gave.
    """

    client_order_id: str
    account_id: str
    leg_id: uuid.UUID | None
    symbol: str
    side: str
    type: str
    purpose: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: str | None
    status: str
    status_history: tuple[dict[str, str], ...]
    created_at: datetime
    updated_at: datetime
    exchange_order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JournalFill:
    """One execution; ``order_client_id`` is the journaled order it belongs to, if any."""

    account_id: str
    order_client_id: str | None
    symbol: str
    trade_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    realized_pnl: Decimal
    maker: bool
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The account's balances at one time."""

    account_id: str
    taken_at: datetime
    equity: Decimal
    wallet_balance: Decimal
    available_balance: Decimal
    unrealized_pnl: Decimal
    margin_used: Decimal


@dataclass(frozen=True, slots=True)
class PositionPoint:
    """One position at one time (``quantity`` positive, ``side`` long or short)."""

    account_id: str
    symbol: str
    taken_at: datetime
    side: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: Decimal


@dataclass(frozen=True, slots=True)
class SavedRisk:
    """The risk state of an account and when it was saved."""

    state: RiskState
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SavedControl:
    """The operator state of an account's agent (reason redacted) and when it was saved."""

    state: str
    reason: str | None
    updated_at: datetime


def _utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive time is refused, as the database's time columns refuse it."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} is ambiguous; use UTC")
    return at.astimezone(UTC)


def _copy_risk(state: RiskState) -> RiskState:
    # The state's stop-outs are a dict: a copy, so the caller's later changes stay theirs.
    return replace(state, stop_outs=dict(state.stop_outs))


def _order_data(order: JournalOrder) -> dict[str, Any]:
    """An order as a stream payload (the fields of ``journal_rows.order_data``)."""
    data: dict[str, Any] = to_json(
        {
            "account_id": order.account_id,
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side,
            "type": order.type,
            "purpose": order.purpose,
            "quantity": order.quantity,
            "stop_price": order.stop_price,
            "status": order.status,
            "filled_quantity": order.filled_quantity,
            "average_price": order.average_price,
            "error": order.error,
        }
    )
    return data
