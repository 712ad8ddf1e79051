"""Initial schema: accounts, market data, LLM calls, decisions, orders, fills, snapshots.

The time-series tables become TimescaleDB hypertables when the extension can be created,
and stay plain tables (their primary keys lead with the time column's partners and contain
it) otherwise. See app/db/timescale.py.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 10:15:49.310217+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.base import ExactDecimal, JsonDocument, UtcDateTime
from app.db.migration_ops import create_hypertables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("trading_mode", sa.String(length=8), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "candles",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=4), nullable=False),
        sa.Column("open_time", UtcDateTime(), nullable=False),
        sa.Column("open", ExactDecimal(), nullable=False),
        sa.Column("high", ExactDecimal(), nullable=False),
        sa.Column("low", ExactDecimal(), nullable=False),
        sa.Column("close", ExactDecimal(), nullable=False),
        sa.Column("volume", ExactDecimal(), nullable=False),
        sa.Column("quote_volume", ExactDecimal(), nullable=True),
        sa.Column("trade_count", sa.BigInteger(), nullable=True),
        sa.Column("ingested_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "interval", "open_time", name=op.f("pk_candles")),
    )
    op.create_table(
        "indicator_snapshots",
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.String(length=4), nullable=False),
        sa.Column("open_time", UtcDateTime(), nullable=False),
        sa.Column("indicator_set", sa.String(length=64), nullable=False),
        sa.Column("values", JsonDocument, nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "symbol", "interval", "open_time", "indicator_set", name=op.f("pk_indicator_snapshots")
        ),
    )
    op.create_table(
        "equity_snapshots",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.Column("equity", ExactDecimal(), nullable=False),
        sa.Column("wallet_balance", ExactDecimal(), nullable=False),
        sa.Column("available_balance", ExactDecimal(), nullable=False),
        sa.Column("unrealized_pnl", ExactDecimal(), nullable=False),
        sa.Column("margin_used", ExactDecimal(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_equity_snapshots_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "taken_at", name=op.f("pk_equity_snapshots")),
    )
    op.create_table(
        "llm_calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("raw_reply", sa.Text(), nullable=True),
        sa.Column("generation_id", sa.String(length=128), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", ExactDecimal(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_llm_calls_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    op.create_index(
        op.f("ix_llm_calls_account_id_created_at"), "llm_calls", ["account_id", "created_at"]
    )

    op.create_table(
        "position_snapshots",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=False),
        sa.Column("side", sa.String(length=5), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("entry_price", ExactDecimal(), nullable=True),
        sa.Column("mark_price", ExactDecimal(), nullable=True),
        sa.Column("unrealized_pnl", ExactDecimal(), nullable=False),
        sa.Column("leverage", ExactDecimal(), nullable=True),
        sa.Column("liquidation_price", ExactDecimal(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_position_snapshots_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "symbol", "taken_at", name=op.f("pk_position_snapshots")
        ),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("llm_call_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("prompt_version", sa.String(length=64), nullable=True),
        sa.Column("candle_time", UtcDateTime(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("parsed", JsonDocument, nullable=True),
        sa.Column("validation_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_decisions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["llm_call_id"], ["llm_calls.id"], name=op.f("fk_decisions_llm_call_id_llm_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(
        op.f("ix_decisions_account_id_created_at"), "decisions", ["account_id", "created_at"]
    )

    op.create_table(
        "agent_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("payload", JsonDocument, nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_agent_events_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_agent_events_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", "occurred_at", name=op.f("pk_agent_events")),
    )
    op.create_index(
        op.f("ix_agent_events_account_id_occurred_at"),
        "agent_events",
        ["account_id", "occurred_at"],
    )

    op.create_table(
        "decision_legs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("requested", JsonDocument, nullable=False),
        sa.Column("approved", JsonDocument, nullable=True),
        sa.Column("adjustments", JsonDocument, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_legs_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_legs")),
        sa.UniqueConstraint(
            "decision_id", "symbol", name=op.f("uq_decision_legs_decision_id_symbol")
        ),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_order_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("decision_leg_id", sa.Uuid(), nullable=True),
        sa.Column("exchange_order_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=True),
        sa.Column("stop_price", ExactDecimal(), nullable=True),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("close_position", sa.Boolean(), nullable=False),
        sa.Column("working_type", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_history", JsonDocument, nullable=False),
        sa.Column("filled_quantity", ExactDecimal(), nullable=False),
        sa.Column("average_price", ExactDecimal(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["decision_leg_id"],
            ["decision_legs.id"],
            name=op.f("fk_orders_decision_leg_id_decision_legs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
    )
    op.create_index(op.f("ix_orders_account_id_created_at"), "orders", ["account_id", "created_at"])
    op.create_index(op.f("ix_orders_account_id_status"), "orders", ["account_id", "status"])

    op.create_table(
        "fills",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("price", ExactDecimal(), nullable=False),
        sa.Column("quantity", ExactDecimal(), nullable=False),
        sa.Column("fee", ExactDecimal(), nullable=False),
        sa.Column("fee_asset", sa.String(length=16), nullable=False),
        sa.Column("realized_pnl", ExactDecimal(), nullable=False),
        sa.Column("is_maker", sa.Boolean(), nullable=False),
        sa.Column("filled_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_fills_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint(
            "account_id", "symbol", "trade_id", name=op.f("uq_fills_account_id_symbol_trade_id")
        ),
    )
    op.create_index(op.f("ix_fills_account_id_filled_at"), "fills", ["account_id", "filled_at"])

    create_hypertables()


def downgrade() -> None:
    # Dropping a hypertable drops its chunks and policies with it.
    op.drop_index(op.f("ix_fills_account_id_filled_at"), table_name="fills")

    op.drop_table("fills")
    op.drop_index(op.f("ix_orders_account_id_status"), table_name="orders")
    op.drop_index(op.f("ix_orders_account_id_created_at"), table_name="orders")

    op.drop_table("orders")
    op.drop_table("decision_legs")
    op.drop_index(op.f("ix_agent_events_account_id_occurred_at"), table_name="agent_events")

    op.drop_table("agent_events")
    op.drop_index(op.f("ix_decisions_account_id_created_at"), table_name="decisions")

    op.drop_table("decisions")
    op.drop_table("position_snapshots")
    op.drop_index(op.f("ix_llm_calls_account_id_created_at"), table_name="llm_calls")

    op.drop_table("llm_calls")
    op.drop_table("equity_snapshots")
    op.drop_table("indicator_snapshots")
    op.drop_table("candles")
    op.drop_table("accounts")
