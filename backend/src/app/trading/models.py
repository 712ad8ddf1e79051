"""Trading tables: accounts, decisions per asset, orders with their history, fills, snapshots."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.columns import created_at, restamped_at, run_column, stamped_at, updated_at, uuid_pk


class Account(Base):
    """A trading account known to the service (configured in the environment)."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    trading_mode: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Decision(Base):
    """One decision cycle of one account: who decided, on what, and the overall outcome."""

    __tablename__ = "decisions"
    __table_args__ = (Index(None, "run_id", "account_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[str] = run_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    llm_call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("llm_calls.id"))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    candle_time: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(24))
    summary: Mapped[str | None] = mapped_column(Text)
    parsed: Mapped[dict[str, Any] | None]
    validation_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = stamped_at()


class DecisionLeg(Base):
    """The decision for one asset: what was requested, what the risk engine approved, and why.

    ``adjustments`` lists every rule that changed or rejected the request, in order, each as
    ``{"rule": ..., "reason": ..., "field": ..., "requested": ..., "approved": ...}``.
    """

    __tablename__ = "decision_legs"
    __table_args__ = (UniqueConstraint("decision_id", "symbol"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    requested: Mapped[dict[str, Any]]
    approved: Mapped[dict[str, Any] | None]
    adjustments: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = stamped_at()


class Order(Base):
    """An order intent and its life on the exchange, keyed by its deterministic client id.

    The row is written *before* the order is sent (status ``intent``), so a crash between
    journal and exchange can be resolved by asking the exchange for ``client_order_id``.
    ``status_history`` appends ``{"status", "at", "reason"}`` on every transition.
    """

    __tablename__ = "orders"
    __table_args__ = (
        Index(None, "run_id", "account_id", "created_at"),
        Index(None, "run_id", "account_id", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[str] = run_column()
    # Unique across runs, not per run: ids derive from the decision's uuid (agent/order_ids.py),
    # and the exchange knows nothing of runs, so one id must never name two orders.
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    decision_leg_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decision_legs.id"))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal]
    price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    close_position: Mapped[bool] = mapped_column(Boolean, default=False)
    working_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    status_history: Mapped[list[Any]]
    filled_quantity: Mapped[Decimal] = mapped_column(default=Decimal(0))
    average_price: Mapped[Decimal | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = stamped_at()
    updated_at: Mapped[datetime] = restamped_at()


class Fill(Base):
    """One execution (trade) of an order; unique per exchange trade id within its run."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("run_id", "account_id", "symbol", "trade_id"),
        Index(None, "run_id", "account_id", "filled_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[str] = run_column()
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    trade_id: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal]
    quantity: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_asset: Mapped[str] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal]
    is_maker: Mapped[bool] = mapped_column(Boolean)
    filled_at: Mapped[datetime]
    created_at: Mapped[datetime] = stamped_at()


class PositionSnapshot(Base):
    """A position as seen at one moment. Hypertable on ``taken_at``."""

    __tablename__ = "position_snapshots"

    run_id: Mapped[str] = run_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    side: Mapped[str] = mapped_column(String(5))
    quantity: Mapped[Decimal]
    entry_price: Mapped[Decimal | None]
    mark_price: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal]
    leverage: Mapped[Decimal | None]
    liquidation_price: Mapped[Decimal | None]


class EquitySnapshot(Base):
    """Account equity at one moment. Hypertable on ``taken_at``."""

    __tablename__ = "equity_snapshots"

    run_id: Mapped[str] = run_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    equity: Mapped[Decimal]
    wallet_balance: Mapped[Decimal]
    available_balance: Mapped[Decimal]
    unrealized_pnl: Mapped[Decimal]
    margin_used: Mapped[Decimal]


class RiskStateRow(Base):
    """The risk engine's memory per run and account: the day's start equity, a halt, stop-outs.

    Persisted so a daily-loss halt survives a restart.
    """

    __tablename__ = "risk_states"

    run_id: Mapped[str] = run_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    day_start_equity: Mapped[Decimal]
    halted: Mapped[bool] = mapped_column(Boolean, default=False)
    halt_reason: Mapped[str | None] = mapped_column(Text)
    stop_outs: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = restamped_at()


class PaperAccountRow(Base):
    """A paper account's simulated exchange state (balance, positions, orders), as JSON.

    Persisted after every cycle so paper positions and balances survive restarts.
    """

    __tablename__ = "paper_accounts"

    run_id: Mapped[str] = run_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = updated_at()
