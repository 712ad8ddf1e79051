"""The exchange as the agent sees it: one account, live (AsterDEX) or simulated (paper).

Live and paper mode implement the same port, so the agent loop has one code path.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.exchange.filters import SymbolFilters
from app.exchange.types import ExchangeOrder, Kline, OrderRequest


@dataclass(frozen=True, slots=True)
class PositionState:
    """One open position (one-way mode: ``amount`` is signed, negative is short)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int


@dataclass(frozen=True, slots=True)
class AccountState:
    """Balances and open positions of the account."""

    wallet_balance: Decimal
    equity: Decimal
    available_balance: Decimal
    unrealized_pnl: Decimal
    margin_used: Decimal
    positions: dict[str, PositionState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill of one of the account's orders."""

    symbol: str
    client_order_id: str
    order_id: int
    trade_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    realized_pnl: Decimal
    maker: bool
    time: datetime


class VenueSimulation(Protocol):
    """What a venue does by itself, done by hand when the venue is simulated.

    A simulated venue (the paper exchange) matches its resting orders on each closed candle
    and charges funding when a funding time passes; the loop calls these hooks to drive it.
    A real venue (AsterDEX) does both itself, so the live exchange implements them as no-ops
    (funding only reads back what the venue charged, for the journal).
    """

    async def on_closed_candle(self, candle: Kline) -> None:
        """A candle closed: a simulated venue matches its resting orders against the bar."""
        ...

    async def settle_funding(self, symbol: str, rate: Decimal, mark_price: Decimal) -> Decimal:
        """A funding time passed: the wallet change it made (negative when charged).

        A simulated venue charges or credits the position at ``mark_price`` x ``rate``; a real
        venue has charged already, and this reports what it charged since the last call.
        """
        ...


class Exchange(VenueSimulation, Protocol):
    """One trading account on an exchange.

    All prices and quantities are ``Decimal``; times are tz-aware UTC. The hooks of
    :class:`VenueSimulation` are part of it, so the loop drives paper and live alike.
    """

    async def symbol_filters(self, symbol: str) -> SymbolFilters:
        """The symbol's trading rules."""
        ...

    async def account_state(self) -> AccountState:
        """Balances and open positions now."""
        ...

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the symbol's leverage (1-125)."""
        ...

    async def place_order(
        self, order: OrderRequest, *, maybe_sent_at_ms: int | None = None
    ) -> ExchangeOrder:
        """Place ``order``, idempotent on ``order.client_order_id``.

        Raises:
            app.exchange.errors.OrderRejected: Refused (nothing placed).
            app.exchange.errors.UnknownOrderOutcome: Sent, outcome unknown; retry same id.
        """
        ...

    async def find_order(
        self, symbol: str, client_order_id: str, *, sent_at: datetime | None = None
    ) -> ExchangeOrder | None:
        """The order under ``client_order_id`` (any status), or None when there is none.

        With ``sent_at`` (when a request that may have carried the order was sent, e.g.
        before a crash) a None is final: the exchange can no longer accept that request.
        """
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        """Cancel an open order; no error when it is no longer open."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """The account's open orders."""
        ...

    async def executions(self, since: datetime) -> list[Execution]:
        """Fills since ``since`` (inclusive), oldest first."""
        ...
