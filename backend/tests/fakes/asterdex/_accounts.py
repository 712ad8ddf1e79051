"""What the fake remembers per account: wallet, positions, orders, fills, income, listen key.

Tests read these objects directly to assert on the exchange's side of the story.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ._symbols import DEFAULT_LEVERAGE

ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
# Conditional ("algo") orders: they wait for a trigger and count against MAX_NUM_ALGO_ORDERS.
ALGO_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
STOP_FAMILY = frozenset({"STOP", "STOP_MARKET", "TRAILING_STOP_MARKET"})
LISTEN_KEY_TTL_MS = 60 * 60 * 1000


@dataclass(slots=True)
class FakePosition:
    """The one-way (``BOTH``) position of one symbol; ``amount`` is signed (short < 0)."""

    symbol: str
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    margin_type: Literal["CROSSED", "ISOLATED"] = "CROSSED"
    realized_pnl: Decimal = ZERO  # accumulated, before fees: the stream's ``cr``
    update_time: int = 0

    @property
    def wire_margin_type(self) -> str:
        """How positionRisk and ACCOUNT_UPDATE spell the margin type."""
        return "isolated" if self.margin_type == "ISOLATED" else "cross"

    @property
    def position_side_text(self) -> str:
        """Always ``BOTH``: the fake trades in one-way mode only."""
        return "BOTH"


@dataclass(slots=True)
class FakeOrder:
    """One order as the exchange keeps it, from acceptance to its final status."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Literal["BUY", "SELL"]
    type: str
    status: str
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_in_force: str
    reduce_only: bool
    close_position: bool
    working_type: str
    price_protect: bool
    time: int
    update_time: int
    position_side: str = "BOTH"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    triggered: bool = False
    trail_extreme: Decimal | None = None

    @property
    def orig_type(self) -> str:
        """The type as placed (the fake never rewrites it)."""
        return self.type

    @property
    def avg_price(self) -> Decimal:
        """Volume-weighted fill price, 0 before the first fill."""
        if self.executed_qty == 0:
            return ZERO
        return self.cum_quote / self.executed_qty

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        """Whether the order still works (NEW or PARTIALLY_FILLED)."""
        return self.status in OPEN_STATUSES

    @property
    def is_algo(self) -> bool:
        """Whether it is a conditional order."""
        return self.type in ALGO_TYPES


@dataclass(frozen=True, slots=True)
class FakeTrade:
    """One fill of one order."""

    trade_id: int
    order_id: int
    symbol: str
    side: Literal["BUY", "SELL"]
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time: int
    commission_asset: str = "USDT"
    position_side: str = "BOTH"


@dataclass(frozen=True, slots=True)
class FakeIncome:
    """One row of income history (REALIZED_PNL, COMMISSION, FUNDING_FEE)."""

    tran_id: int
    symbol: str
    income_type: str
    income: Decimal
    time: int
    trade_id: str = ""
    info: str = ""
    asset: str = "USDT"


@dataclass(slots=True)
class FakeAccount:
    """A futures account, reached either by API key (HMAC) or by wallet address (V3)."""

    account_id: str
    auth: Literal["hmac", "v3"]
    secret: str  # HMAC secret, or the V3 API wallet (signer) address
    balance: Decimal
    positions: dict[str, FakePosition]
    orders: list[FakeOrder] = field(default_factory=list)
    trades: list[FakeTrade] = field(default_factory=list)
    income: list[FakeIncome] = field(default_factory=list)
    dual_side_position: bool = False
    multi_assets_margin: bool = False
    listen_key: str | None = None
    listen_key_expires_ms: int = 0
    update_time: int = 0

    @classmethod
    def create(
        cls,
        account_id: str,
        auth: Literal["hmac", "v3"],
        secret: str,
        balance: Decimal,
        symbols: Iterable[str],
    ) -> "FakeAccount":
        """A fresh account, flat in every symbol."""
        positions = {symbol: FakePosition(symbol) for symbol in symbols}
        return cls(account_id, auth, secret, balance, positions)

    @property
    def leverage(self) -> dict[str, int]:
        """Leverage per symbol."""
        return {symbol: p.leverage for symbol, p in self.positions.items()}

    @property
    def margin_type(self) -> dict[str, str]:
        """Margin type per symbol (``CROSSED`` or ``ISOLATED``)."""
        return {symbol: p.margin_type for symbol, p in self.positions.items()}

    def open_orders(self, symbol: str | None = None) -> list[FakeOrder]:
        """Working orders, oldest first."""
        return [o for o in self.orders if o.is_open and symbol in (None, o.symbol)]

    def find_order(
        self, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> FakeOrder | None:
        """Look an order up by id or client id; the newest wins when a client id repeats."""
        for order in reversed(self.orders):
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id != order_id:
                continue
            if client_order_id is not None and order.client_order_id != client_order_id:
                continue
            return order
        return None

    def active_listen_key(self, now_ms: int) -> str | None:
        """The listen key, if it has not expired."""
        if self.listen_key is not None and now_ms < self.listen_key_expires_ms:
            return self.listen_key
        return None
