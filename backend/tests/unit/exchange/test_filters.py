"""Rounding to exchange filters: a rounded order always passes, or is refused before sending."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.exchange.errors import FilterViolation
from app.exchange.filters import SymbolFilters
from app.exchange.types import OrderRequest, OrderType, Side

BTC = SymbolFilters.from_exchange_info(
    {
        "symbol": "BTCUSDT",
        "status": "TRADING",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.001",
                "maxQty": "120",
                "stepSize": "0.001",
            },
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
    }
)
SOL = SymbolFilters.from_exchange_info(
    {
        "symbol": "SOLUSDT",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.010",
                "maxPrice": "5000",
                "tickSize": "0.010",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.01", "maxQty": "50000", "stepSize": "0.01"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.1", "maxQty": "4000", "stepSize": "0.1"},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
    }
)


def passes_oracle(f: SymbolFilters, order: OrderRequest, mark: Decimal) -> bool:
    """The rules of spec §3.1, restated plainly."""
    market = order.type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
    for price in (order.price, order.stop_price):
        off_grid = price is not None and (price - f.min_price) % f.tick_size != 0
        if price is not None and (not f.min_price <= price <= f.max_price or off_grid):
            return False
    qty = order.quantity
    assert qty is not None
    if not f.min_qty <= qty <= f.max_qty or (qty - f.min_qty) % f.step_size:
        return False
    if market and (
        not f.market_min_qty <= qty <= f.market_max_qty
        or (qty - f.market_min_qty) % f.market_step_size
    ):
        return False
    reference = mark if order.type is OrderType.MARKET else (order.price or order.stop_price)
    assert reference is not None
    if not order.reduce_only and qty * reference < f.min_notional:
        return False
    if order.type is OrderType.LIMIT and f.multiplier_up and f.multiplier_down:
        assert order.price is not None
        if order.side is Side.BUY and order.price > mark * f.multiplier_up:
            return False
        if order.side is Side.SELL and order.price < mark * f.multiplier_down:
            return False
    return True


decimals = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal(200_000), places=6)


@settings(max_examples=400, deadline=None)
@given(
    filters=st.sampled_from([BTC, SOL]),
    kind=st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET]),
    side=st.sampled_from(list(Side)),
    quantity=decimals,
    price=decimals,
    mark=st.decimals(min_value=Decimal(1), max_value=Decimal(150_000), places=2),
    reduce_only=st.booleans(),
)
def test_a_prepared_order_passes_every_filter_or_is_refused(
    filters: SymbolFilters,
    kind: OrderType,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    mark: Decimal,
    reduce_only: bool,
) -> None:
    order = OrderRequest(
        symbol=filters.symbol,
        side=side,
        type=kind,
        client_order_id="t-1",
        quantity=quantity,
        price=price if kind is OrderType.LIMIT else None,
        stop_price=price if kind is OrderType.STOP_MARKET else None,
        reduce_only=reduce_only,
    )
    try:
        prepared = filters.prepare(order, mark_price=mark)
    except FilterViolation:
        return
    assert passes_oracle(filters, prepared, mark)
    assert prepared.quantity is not None
    assert prepared.quantity <= quantity  # never more than asked


@settings(max_examples=200, deadline=None)
@given(quantity=decimals)
def test_quantity_rounds_down_onto_the_grid(quantity: Decimal) -> None:
    rounded = SOL.round_quantity(quantity, market=True)

    assert rounded <= quantity
    assert rounded == 0 or rounded % Decimal("0.1") == 0
    assert quantity - rounded < Decimal("0.1") or rounded == 0


def test_refusals_say_why() -> None:
    tiny = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "t-2", quantity=Decimal("0.0004"))
    dust = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "t-3", quantity=Decimal("0.001"))
    huge = OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, "t-4", quantity=Decimal(500))

    with pytest.raises(FilterViolation, match=r"below the minimum 0\.001"):
        BTC.prepare(tiny, mark_price=Decimal(60000))
    with pytest.raises(FilterViolation, match=r"notional 1\.000 is below the minimum 5"):
        BTC.prepare(dust, mark_price=Decimal(1000))
    with pytest.raises(FilterViolation, match="above the maximum 120"):
        BTC.prepare(huge, mark_price=Decimal(60000))


def test_reduce_only_orders_are_exempt_from_min_notional() -> None:
    close = OrderRequest(
        "BTCUSDT", Side.SELL, OrderType.MARKET, "t-5", quantity=Decimal("0.001"), reduce_only=True
    )

    assert BTC.prepare(close, mark_price=Decimal(1000)).quantity == Decimal("0.001")


def test_prices_snap_to_the_tick() -> None:
    assert BTC.round_price(Decimal("63000.06")) == Decimal("63000.1")
    assert BTC.round_price(Decimal("63000.04")) == Decimal("63000.0")
    assert SOL.round_price(Decimal("150.1249")) == Decimal("150.12")
