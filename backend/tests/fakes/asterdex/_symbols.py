"""Per-symbol trading rules (filters) and the ``exchangeInfo`` document built from them."""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ._numbers import fixed

ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "HIDDEN")
RATE_LIMITS = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
)
MAX_LEVERAGE = 125
DEFAULT_LEVERAGE = 20


@dataclass(frozen=True, slots=True)
class FakeSymbolSpec:
    """The filters of one symbol, as ``exchangeInfo`` publishes them and orders are checked.

    ``price_precision``/``quantity_precision`` bound the number of decimals a request may carry
    (-1111); ``tick_size``/``step_size`` are checked separately (-4014/-4023), as on the real
    exchange where precision and tick differ.
    """

    symbol: str
    base_asset: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    price_precision: int
    quantity_precision: int
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal = Decimal(5)
    multiplier_up: Decimal = Decimal("1.05")
    multiplier_down: Decimal = Decimal("0.95")
    max_num_orders: int = 200
    max_num_algo_orders: int = 10
    quote_asset: str = "USDT"
    maint_margin_ratio: Decimal = Decimal("0.004")

    @property
    def tick_places(self) -> int:
        """Decimals of the tick size, used to echo prices."""
        return _places(self.tick_size)

    @property
    def step_places(self) -> int:
        """Decimals of the step size, used to echo quantities."""
        return _places(self.step_size)

    def price_text(self, value: Decimal) -> str:
        """A price as the exchange echoes it (tick decimals)."""
        return fixed(value, self.tick_places)

    def qty_text(self, value: Decimal) -> str:
        """A quantity as the exchange echoes it (step decimals)."""
        return fixed(value, self.step_places)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


DEFAULT_SYMBOL_SPECS: dict[str, FakeSymbolSpec] = {
    "BTCUSDT": FakeSymbolSpec(
        symbol="BTCUSDT",
        base_asset="BTC",
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000"),
        market_max_qty=Decimal("120"),
        price_precision=2,
        quantity_precision=3,
        min_price=Decimal("0.1"),
        max_price=Decimal("1000000"),
    ),
    "ETHUSDT": FakeSymbolSpec(
        symbol="ETHUSDT",
        base_asset="ETH",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("10000"),
        market_max_qty=Decimal("2000"),
        price_precision=2,
        quantity_precision=3,
        min_price=Decimal("0.01"),
        max_price=Decimal("100000"),
    ),
    "SOLUSDT": FakeSymbolSpec(
        symbol="SOLUSDT",
        base_asset="SOL",
        tick_size=Decimal("0.010"),
        step_size=Decimal("0.01"),
        min_qty=Decimal("0.01"),
        max_qty=Decimal("50000"),
        market_max_qty=Decimal("4000"),
        price_precision=3,
        quantity_precision=2,
        min_price=Decimal("0.010"),
        max_price=Decimal("5000"),
    ),
}


def default_spec(symbol: str) -> FakeSymbolSpec:
    """The rules of ``symbol``: the table above, or generic rules for any other symbol."""
    known = DEFAULT_SYMBOL_SPECS.get(symbol)
    if known is not None:
        return known
    base = symbol.removesuffix("USDT") or symbol
    return FakeSymbolSpec(
        symbol=symbol,
        base_asset=base,
        tick_size=Decimal("0.0001"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000000"),
        market_max_qty=Decimal("100000"),
        price_precision=4,
        quantity_precision=3,
        min_price=Decimal("0.0001"),
        max_price=Decimal("1000000"),
    )


_BRACKETS = (
    (125, 50_000),
    (100, 250_000),
    (50, 3_000_000),
    (20, 20_000_000),
    (10, 50_000_000),
    (5, 100_000_000),
    (1, 200_000_000),
)


def max_notional(leverage: int) -> Decimal:
    """Bracket cap of the position notional at ``leverage`` (reported, never enforced)."""
    cap = _BRACKETS[0][1]
    for bracket_leverage, notional in _BRACKETS:
        if leverage <= bracket_leverage:
            cap = notional
    return Decimal(cap)


def _filters(spec: FakeSymbolSpec) -> list[dict[str, object]]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": spec.price_text(spec.min_price),
            "maxPrice": spec.price_text(spec.max_price),
            "tickSize": str(spec.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": str(spec.min_qty),
            "maxQty": str(spec.max_qty),
            "stepSize": str(spec.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": str(spec.min_qty),
            "maxQty": str(spec.market_max_qty),
            "stepSize": str(spec.step_size),
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": spec.max_num_orders},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": spec.max_num_algo_orders},
        {"filterType": "MIN_NOTIONAL", "notional": str(spec.min_notional)},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": fixed(spec.multiplier_up, 4),
            "multiplierDown": fixed(spec.multiplier_down, 4),
            "multiplierDecimal": "4",
        },
    ]


def symbol_info(spec: FakeSymbolSpec, onboard_ms: int) -> dict[str, object]:
    """One ``symbols[]`` entry of ``exchangeInfo``."""
    return {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": onboard_ms,
        "status": "TRADING",
        "maintMarginPercent": fixed(spec.maint_margin_ratio * 100, 4),
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.quote_asset,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.015000",
        "marketTakeBound": "0.05",
        "filters": _filters(spec),
        "orderTypes": list(ORDER_TYPES),
        "timeInForce": list(TIME_IN_FORCE),
    }


def exchange_info(
    specs: Iterable[FakeSymbolSpec], onboard_ms: dict[str, int], server_ms: int
) -> dict[str, object]:
    """The whole ``GET /fapi/v1/exchangeInfo`` document."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": [dict(limit) for limit in RATE_LIMITS],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "0"}],
        "symbols": [symbol_info(spec, onboard_ms.get(spec.symbol, 0)) for spec in specs],
    }
