"""Exchange domain values: what the adapter returns and accepts, free of any wire format.

Prices and quantities are ``Decimal``; times are tz-aware UTC ``datetime``.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Order side."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Order types the agent uses."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    STOP = "STOP"
    TAKE_PROFIT = "TAKE_PROFIT"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"


class TimeInForce(StrEnum):
    """How long a limit order rests."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class WorkingType(StrEnum):
    """Which price triggers a conditional order."""

    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class MarginType(StrEnum):
    """Margin mode of a symbol."""

    ISOLATED = "ISOLATED"
    CROSSED = "CROSSED"


class OrderStatus(StrEnum):
    """Order status as the exchange reports it."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    NEW_INSURANCE = "NEW_INSURANCE"
    NEW_ADL = "NEW_ADL"

    @property
    def is_open(self) -> bool:
        """True while the order can still fill."""
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle. ``closed`` is False for the bar still forming."""

    symbol: str
    interval: str
    open_time: datetime
    close_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trade_count: int
    closed: bool


@dataclass(frozen=True, slots=True)
class PremiumIndex:
    """Mark price and funding of one symbol."""

    symbol: str
    mark_price: Decimal
    index_price: Decimal
    last_funding_rate: Decimal
    next_funding_time: datetime
    time: datetime


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One settled funding rate."""

    symbol: str
    rate: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class Ticker24h:
    """24-hour rolling statistics of one symbol."""

    symbol: str
    last_price: Decimal
    price_change_percent: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal
    quote_volume: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Order book snapshot; levels are (price, quantity), best first."""

    last_update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A new order. ``client_order_id`` is mandatory: it is what makes placing idempotent.

    Either ``quantity`` or ``close_position=True`` (STOP_MARKET / TAKE_PROFIT_MARKET only).
    """

    symbol: str
    side: Side
    type: OrderType
    client_order_id: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingType | None = None
    price_protect: bool = False


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange knows it."""

    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    type: str
    status: OrderStatus
    orig_qty: Decimal
    executed_qty: Decimal
    price: Decimal
    avg_price: Decimal
    stop_price: Decimal
    reduce_only: bool
    close_position: bool
    working_type: str | None
    update_time: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance."""

    asset: str
    balance: Decimal
    available_balance: Decimal
    cross_unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's position (one-way mode: ``amount`` is signed, negative is short)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    isolated: bool
    mark_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    position_side: str = "BOTH"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Account totals and its open positions."""

    total_wallet_balance: Decimal
    total_unrealized_profit: Decimal
    total_margin_balance: Decimal
    available_balance: Decimal
    total_initial_margin: Decimal
    total_maint_margin: Decimal
    positions: tuple[Position, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One execution of one of the account's orders."""

    symbol: str
    trade_id: int
    order_id: int
    side: Side
    price: Decimal
    quantity: Decimal
    realized_pnl: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class Income:
    """One income record (realized PnL, funding fee, commission, transfer …)."""

    symbol: str
    income_type: str
    income: Decimal
    asset: str
    time: datetime
    tran_id: str
    trade_id: str
