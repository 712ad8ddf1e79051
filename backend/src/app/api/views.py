"""Response models of the status, account and position endpoints, and how they are built."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.agent.router import AgentRead
from app.agent.theses import Thesis
from app.api.health import DatabaseRead, TimescaleRead
from app.config import AccountSettings, Settings
from app.core.decimals import PlainDecimal
from app.exchange.ports import AccountState
from app.exchange.types import ExchangeOrder, OrderType
from app.trading.models import EquitySnapshot


class StatusRead(BaseModel):
    """The service at a glance."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "0.1.0",
                    "environment": "development",
                    "mode": "paper",
                    "market_data": "AsterDEX market data",
                    "replay": False,
                    "access": "full",
                }
            ]
        }
    )

    version: str
    environment: str
    mode: str = Field(description="paper, live, or mixed when accounts differ")
    market_data: str = Field(description="Where prices come from: AsterDEX or a replay")
    replay: bool
    database: DatabaseRead
    timescaledb: TimescaleRead
    accounts: list[AgentRead]
    # Spelled out, not auth.Role: views are read by runtime/snapshots.py, below the HTTP layer.
    access: Literal["full", "read"] = Field(
        description="The role of the token that asked: full (API_TOKEN) or read (API_READ_TOKEN)"
    )


class BalanceRead(BaseModel):
    """Balances of one account."""

    wallet_balance: PlainDecimal
    equity: PlainDecimal
    available_balance: PlainDecimal
    unrealized_pnl: PlainDecimal
    margin_used: PlainDecimal
    at: datetime
    source: Literal["exchange", "snapshot"]

    @classmethod
    def from_state(cls, state: AccountState, at: datetime) -> "BalanceRead":
        """From the exchange port's account state."""
        return cls(
            wallet_balance=state.wallet_balance,
            equity=state.equity,
            available_balance=state.available_balance,
            unrealized_pnl=state.unrealized_pnl,
            margin_used=state.margin_used,
            at=at,
            source="exchange",
        )

    @classmethod
    def from_snapshot(cls, snapshot: EquitySnapshot) -> "BalanceRead":
        """From the newest equity snapshot."""
        return cls(
            wallet_balance=snapshot.wallet_balance,
            equity=snapshot.equity,
            available_balance=snapshot.available_balance,
            unrealized_pnl=snapshot.unrealized_pnl,
            margin_used=snapshot.margin_used,
            at=snapshot.taken_at,
            source="snapshot",
        )


class LimitsRead(BaseModel):
    """The risk limits the account trades under."""

    max_position_size_usd: PlainDecimal
    leverage: PlainDecimal
    max_total_exposure_usd: PlainDecimal
    max_daily_loss_pct: PlainDecimal
    max_loss_per_trade_pct: PlainDecimal
    max_stop_distance_pct: PlainDecimal
    min_stop_atr: PlainDecimal
    min_hold_bars: int
    stop_cooldown_bars: int
    allow_pyramiding: bool

    @classmethod
    def from_settings(cls, settings: Settings, account: AccountSettings) -> "LimitsRead":
        """The account's limits (per-account values over the globals)."""
        return cls(
            max_position_size_usd=account.max_position_size_usd,
            leverage=account.leverage,
            max_total_exposure_usd=settings.max_total_exposure_usd
            or account.max_position_size_usd * 3,
            max_daily_loss_pct=settings.max_daily_loss_pct,
            max_loss_per_trade_pct=settings.max_loss_per_trade_pct,
            max_stop_distance_pct=settings.max_stop_distance_pct,
            min_stop_atr=settings.min_stop_atr,
            min_hold_bars=settings.min_hold_bars,
            stop_cooldown_bars=settings.stop_cooldown_bars,
            allow_pyramiding=settings.allow_pyramiding,
        )


class AccountRead(BaseModel):
    """One account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "default",
                    "trading_mode": "paper",
                    "llm_model": "x-ai/grok-4",
                    "decider": "llm",
                    "assets": ["BTC", "ETH", "SOL"],
                }
            ]
        }
    )

    id: str
    trading_mode: str
    llm_model: str
    decider: Literal["llm", "rules"] = Field(description="rules when no OpenRouter key is set")
    assets: list[str]
    limits: LimitsRead
    agent: AgentRead
    balance: BalanceRead | None


class ProtectionRead(BaseModel):
    """A working stop or target of a position."""

    client_order_id: str
    type: str
    side: str
    stop_price: PlainDecimal
    close_position: bool
    status: str


class ThesisRead(BaseModel):
    """Why a position is open and what ends it."""

    rationale: str
    invalidation: str | None
    stop_loss: PlainDecimal | None
    take_profit: PlainDecimal | None
    opened_at: datetime


class PositionRead(BaseModel):
    """One open position with its protection and thesis."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "quantity": "0.045",
                    "entry_price": "66210.4",
                    "mark_price": "66480.0",
                    "unrealized_pnl": "12.13",
                    "leverage": 2,
                    "protected": True,
                }
            ]
        }
    )

    symbol: str
    side: Literal["long", "short"]
    quantity: PlainDecimal
    entry_price: PlainDecimal
    mark_price: PlainDecimal
    unrealized_pnl: PlainDecimal
    leverage: int
    protected: bool = Field(description="A working stop-loss covers the position")
    protection: list[ProtectionRead]
    thesis: ThesisRead | None


_PROTECTIVE = {OrderType.STOP_MARKET.value, OrderType.TAKE_PROFIT_MARKET.value}


def positions_read(
    state: AccountState, orders: Sequence[ExchangeOrder], theses: Mapping[str, Thesis]
) -> list[PositionRead]:
    """Positions from the exchange's state, its open orders and the loop's theses."""
    result = []
    for symbol, position in sorted(state.positions.items()):
        protection = [
            ProtectionRead(
                client_order_id=o.client_order_id,
                type=o.type,
                side=o.side.value,
                stop_price=o.stop_price,
                close_position=o.close_position,
                status=o.status.value,
            )
            for o in orders
            if o.symbol == symbol and o.type in _PROTECTIVE and (o.close_position or o.reduce_only)
        ]
        thesis = theses.get(symbol)
        result.append(
            PositionRead(
                symbol=symbol,
                side="long" if position.amount > 0 else "short",
                quantity=abs(position.amount),
                entry_price=position.entry_price,
                mark_price=position.mark_price,
                unrealized_pnl=position.unrealized_pnl,
                leverage=position.leverage,
                protected=any(p.type == OrderType.STOP_MARKET.value for p in protection),
                protection=protection,
                thesis=(
                    ThesisRead(
                        rationale=thesis.text,
                        invalidation=thesis.condition.canonical if thesis.condition else None,
                        stop_loss=thesis.stop_loss,
                        take_profit=thesis.take_profit,
                        opened_at=thesis.opened_at,
                    )
                    if thesis is not None
                    else None
                ),
            )
        )
    return result
