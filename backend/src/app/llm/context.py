"""What a decision provider is told: the account, the markets, recent history, the limits."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.indicators.schemas import AssetFeatures
from app.trading.domain import PositionSide, RiskLimits


@dataclass(frozen=True, slots=True)
class PositionView:
    """An open position with its protection and the thesis it was opened on."""

    symbol: str
    side: PositionSide
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    thesis: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class AssetView:
    """One tradable asset: features across timeframes, mark price and funding."""

    asset: str
    symbol: str
    features: AssetFeatures
    mark_price: Decimal
    funding_rate: Decimal
    next_funding_time: datetime | None


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A recent decision on one asset and what became of it."""

    time: datetime
    symbol: str
    action: str
    status: str
    outcome: str


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything one decision is made from (built by the agent, read by providers)."""

    account_id: str
    now: datetime
    interval: str
    long_interval: str
    equity: Decimal
    free_margin: Decimal
    positions: tuple[PositionView, ...]
    assets: tuple[AssetView, ...]
    history: tuple[HistoryItem, ...]
    limits: RiskLimits
    halted_reason: str | None = None
