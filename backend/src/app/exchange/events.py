"""Stream events: what the market and user-data streams deliver, live or by catch-up."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.exchange.types import Kline, OrderStatus, Side


@dataclass(frozen=True, slots=True)
class KlineClosed:
    """A candle closed. ``catch_up`` is True when it came from REST after a reconnect."""

    kline: Kline
    catch_up: bool = False


@dataclass(frozen=True, slots=True)
class MarkPriceUpdate:
    """Mark price and funding of one symbol."""

    symbol: str
    mark_price: Decimal
    funding_rate: Decimal
    next_funding_time: datetime
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """``ORDER_TRADE_UPDATE``: an order changed; a fill when ``execution_type`` is TRADE.

    ``trade_id`` and the ``last_*`` fields describe the fill, when there is one.
    """

    symbol: str
    client_order_id: str
    order_id: int
    side: Side
    order_type: str
    execution_type: str
    status: OrderStatus
    orig_qty: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    last_qty: Decimal
    last_price: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    realized_pnl: Decimal
    reduce_only: bool
    maker: bool
    time: datetime
    catch_up: bool = False

    @property
    def is_fill(self) -> bool:
        """True when this update reports an execution."""
        return self.execution_type == "TRADE" and self.last_qty > 0


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """One asset of an ``ACCOUNT_UPDATE``."""

    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal


@dataclass(frozen=True, slots=True)
class PositionChange:
    """One position of an ``ACCOUNT_UPDATE``."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    unrealized_pnl: Decimal
    position_side: str


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """``ACCOUNT_UPDATE``: balances and positions changed (fill, funding, transfer …)."""

    reason: str
    balances: tuple[BalanceChange, ...]
    positions: tuple[PositionChange, ...]
    time: datetime


@dataclass(frozen=True, slots=True)
class StreamReconnected:
    """The stream reconnected; events missed meanwhile follow as catch-up events."""

    attempt: int
    reason: str


type MarketEvent = KlineClosed | MarkPriceUpdate | StreamReconnected
type UserEvent = OrderUpdate | AccountUpdate | StreamReconnected
