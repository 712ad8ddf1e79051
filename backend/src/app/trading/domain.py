"""Trading domain values: proposals in, risk verdicts and order plans out. Pure.

A *proposal* is what a decision provider (LLM or rules) asks for one asset. The risk engine
(:mod:`app.trading.risk`) turns it into a :class:`LegVerdict`: approved as asked, adjusted
(with every adjustment and the rule behind it) or rejected (with the reason), and the
:class:`OrderPlan` rows that execution may send. Nothing else produces orders.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from app.exchange.filters import SymbolFilters
from app.exchange.types import Side


class Action(StrEnum):
    """What a decision asks for one asset."""

    OPEN_LONG = "open_long"
    OPEN_SHORT = "open_short"
    CLOSE = "close"
    REDUCE = "reduce"
    HOLD = "hold"

    @property
    def opens(self) -> bool:
        """True for entries."""
        return self in (Action.OPEN_LONG, Action.OPEN_SHORT)


class PositionSide(StrEnum):
    """Direction of a position."""

    LONG = "long"
    SHORT = "short"

    @property
    def entry_side(self) -> Side:
        """The order side that opens (or adds to) this position."""
        return Side.BUY if self is PositionSide.LONG else Side.SELL

    @property
    def exit_side(self) -> Side:
        """The order side that reduces this position."""
        return Side.SELL if self is PositionSide.LONG else Side.BUY


class LegStatus(StrEnum):
    """The risk engine's verdict on one proposal."""

    APPROVED = "approved"
    ADJUSTED = "adjusted"
    REJECTED = "rejected"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a provider asks for one asset (sizes in USD notional, prices in quote)."""

    symbol: str
    action: Action
    size_usd: Decimal | None = None
    leverage: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """An open position as the risk engine sees it."""

    symbol: str
    side: PositionSide
    quantity: Decimal  # always positive
    entry_price: Decimal
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Balances and positions at decision time."""

    equity: Decimal
    available_margin: Decimal
    positions: dict[str, Position] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """One symbol's market at decision time."""

    mark_price: Decimal
    atr: Decimal | None
    filters: SymbolFilters


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every limit the risk engine enforces, with its setting.

    Attributes:
        max_position_usd: ``MAX_POSITION_SIZE_USD``: largest notional of one position.
        max_leverage: ``LEVERAGE``: highest leverage approved.
        max_total_exposure_usd: ``MAX_TOTAL_EXPOSURE_USD``: sum of all positions' notional.
        max_daily_loss: ``MAX_DAILY_LOSS_PCT`` / 100: entries halt for the UTC day once
            realised + unrealised PnL since the day's start loses this fraction of equity.
        max_loss_per_trade: ``MAX_LOSS_PER_TRADE_PCT`` / 100: loss at the stop, as a fraction
            of equity, that sizes an entry down.
        min_stop_atr: ``MIN_STOP_ATR``: a stop no nearer than this many ATRs.
        max_stop_distance: ``MAX_STOP_DISTANCE_PCT`` / 100: a stop no farther than this
            fraction of the price.
        min_hold_bars: ``MIN_HOLD_BARS``: no flip long<->short before this many bars.
        allow_pyramiding: ``ALLOW_PYRAMIDING``: adding to a position in the same direction.
        stop_cooldown_bars: ``STOP_COOLDOWN_BARS``: no new entry on a symbol this many bars
            after a stop-out.
        margin_buffer: Fraction of free margin left unused (fees, slippage, mark moves).
    """

    max_position_usd: Decimal
    max_leverage: Decimal
    max_total_exposure_usd: Decimal
    max_daily_loss: Decimal = Decimal("0.05")
    max_loss_per_trade: Decimal = Decimal("0.02")
    min_stop_atr: Decimal = Decimal("0.5")
    max_stop_distance: Decimal = Decimal("0.10")
    min_hold_bars: int = 3
    allow_pyramiding: bool = False
    stop_cooldown_bars: int = 3
    margin_buffer: Decimal = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the risk engine remembers between decisions (persisted per account).

    Attributes:
        day: The UTC day the daily figures belong to.
        day_start_equity: Equity at the day's first look.
        halted: Entries are halted for the rest of the day.
        halt_reason: Why, for the journal and the API.
        stop_outs: Per symbol, when a stop last closed a position.
    """

    day: date
    day_start_equity: Decimal
    halted: bool = False
    halt_reason: str | None = None
    stop_outs: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One rule that changed or refused a proposal."""

    rule: str
    field: str
    requested: str | None
    approved: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """One order execution may send for an approved leg (market orders)."""

    symbol: str
    side: Side
    quantity: Decimal
    reduce_only: bool
    purpose: str  # "entry", "close", "reduce"


@dataclass(frozen=True, slots=True)
class LegVerdict:
    """The risk engine's answer for one proposal."""

    proposal: Proposal
    status: LegStatus
    orders: tuple[OrderPlan, ...] = ()
    leverage: int | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    notional_usd: Decimal = Decimal(0)
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def rejection(self) -> str | None:
        """The reason of a rejection."""
        if self.status is not LegStatus.REJECTED or not self.adjustments:
            return None
        return self.adjustments[-1].reason
