"""Response models of the trading read endpoints (orders, fills, decisions, LLM calls, events).

Money and quantities are decimal strings (exact); times are ISO 8601 UTC.
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.api.pagination import Page
from app.core.decimals import PlainDecimal

_ORM = ConfigDict(from_attributes=True)


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(from_attributes=True, json_schema_extra={"examples": [values]})


class OrderRead(BaseModel):
    """One order as journaled: intent first, then every exchange status."""

    model_config = _example(
        client_order_id="ta-3f2a9c1d00e14b7a-0-0",
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        purpose="entry",
        quantity="0.045",
        status="FILLED",
        filled_quantity="0.045",
        average_price="66210.4",
        reduce_only=False,
        close_position=False,
        created_at="2026-11-25T10:00:05Z",
    )

    id: uuid.UUID
    client_order_id: str
    exchange_order_id: str | None
    decision_leg_id: uuid.UUID | None
    symbol: str
    side: str
    type: str
    purpose: str = Field(description="entry, close, reduce, stop_loss or take_profit")
    quantity: PlainDecimal
    price: PlainDecimal | None
    stop_price: PlainDecimal | None
    reduce_only: bool
    close_position: bool
    working_type: str | None
    status: str = Field(description="intent, unknown, not_sent, rejected or the exchange's")
    status_history: list[dict[str, Any]]
    filled_quantity: PlainDecimal
    average_price: PlainDecimal | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class FillRead(BaseModel):
    """One execution; ``order_id`` is null for fills of orders the exchange sent itself."""

    model_config = _example(
        symbol="BTCUSDT",
        trade_id="918273",
        side="BUY",
        price="66210.4",
        quantity="0.045",
        fee="1.04",
        fee_asset="USDT",
        realized_pnl="0",
        is_maker=False,
        filled_at="2026-11-25T10:00:05Z",
    )

    id: uuid.UUID
    order_id: uuid.UUID | None
    symbol: str
    trade_id: str
    side: str
    price: PlainDecimal
    quantity: PlainDecimal
    fee: PlainDecimal
    fee_asset: str
    realized_pnl: PlainDecimal
    is_maker: bool
    filled_at: datetime


class DecisionSummary(BaseModel):
    """One decision cycle."""

    model_config = _example(
        id="0b7f2c8e-9a51-4d0e-8c53-2f0f8e7a9b11",
        provider="openrouter",
        model="x-ai/grok-4",
        status="decided",
        summary="Long BTC on trend continuation; hold ETH and SOL",
        candle_time="2026-11-25T09:00:00Z",
        created_at="2026-11-25T10:00:05Z",
    )

    id: uuid.UUID
    provider: str
    model: str | None
    prompt_version: str | None
    candle_time: datetime | None
    status: str
    summary: str | None
    validation_error: str | None
    created_at: datetime


class AdjustmentRead(BaseModel):
    """One rule of the risk engine that changed or refused a request."""

    rule: str
    field: str | None = None
    requested: Any = None
    approved: Any = None
    reason: str


class LegRead(BaseModel):
    """The decision for one asset: requested, approved, every adjustment, its orders."""

    model_config = _ORM

    id: uuid.UUID
    symbol: str
    action: str
    status: str
    requested: dict[str, Any]
    approved: dict[str, Any] | None
    adjustments: list[AdjustmentRead]
    orders: list[OrderRead] = Field(default_factory=list)
    fills: list[FillRead] = Field(default_factory=list)


class LlmCallRead(BaseModel):
    """One call to the decision provider, whole."""

    model_config = _example(
        provider="openrouter",
        model="x-ai/grok-4",
        status="ok",
        prompt_tokens=1630,
        completion_tokens=412,
        cost_usd="0.0111",
        latency_ms=5210,
        attempt=1,
    )

    id: uuid.UUID
    decision_id: uuid.UUID | None
    provider: str
    model: str
    prompt: str = Field(description="The messages sent, as JSON")
    prompt_hash: str
    raw_reply: str | None
    generation_id: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: PlainDecimal | None
    latency_ms: int | None
    status: str
    attempt: int
    error: str | None
    cache_hit: bool = Field(
        default=False, description="Served from the reply cache: it cost nothing this run"
    )
    cached_from: str | None = Field(
        default=None, description="For a cached reply, when the original request was made"
    )
    created_at: datetime


class DecisionDetail(DecisionSummary):
    """A decision with everything needed to audit it."""

    parsed: dict[str, Any] | None
    calls: list[LlmCallRead] = Field(description="Every LLM call of the cycle, oldest first")
    legs: list[LegRead]


class LlmTotals(BaseModel):
    """Token and cost totals over the filtered range (all pages)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: PlainDecimal


class LlmCallPage(Page[LlmCallRead]):
    """A page of LLM calls with the totals of the whole range."""

    totals: LlmTotals


class EventRead(BaseModel):
    """One agent event (cycle skipped, protection armed, kill switch, recovery ...)."""

    model_config = _example(
        type="protection.armed",
        severity="warning",
        message="BTCUSDT: protection was missing; re-armed (stop 64200, target 70100)",
        payload={"symbol": "BTCUSDT", "stop_loss": "64200"},
        occurred_at="2026-11-25T10:00:06Z",
    )

    id: uuid.UUID
    type: str
    severity: str
    message: str
    payload: dict[str, Any]
    decision_id: uuid.UUID | None
    occurred_at: datetime
