"""Property: an order the client prepares passes the fake exchange's own validator, or the
client refused it before sending. Two independent readings of spec §3.1 must agree."""

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.exchange.errors import FilterViolation
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import _order_params
from app.exchange.types import OrderRequest, OrderType, Side, TimeInForce
from tests.fakes.asterdex import DEFAULT_SYMBOL_SPECS
from tests.fakes.asterdex._errors import ApiError
from tests.fakes.asterdex._params import Params, parse_pairs
from tests.fakes.asterdex._symbols import symbol_info
from tests.fakes.asterdex._validation import check_filters, parse_order

SPECS = dict(DEFAULT_SYMBOL_SPECS)
FILTERS = {
    symbol: SymbolFilters.from_exchange_info(symbol_info(spec, 0)) for symbol, spec in SPECS.items()
}


@settings(max_examples=500, deadline=None)
@given(
    symbol=st.sampled_from(sorted(SPECS)),
    kind=st.sampled_from(
        [OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET]
    ),
    side=st.sampled_from(list(Side)),
    notional=st.decimals(min_value=Decimal(1), max_value=Decimal(20_000), places=4),
    away=st.decimals(min_value=Decimal("0.9"), max_value=Decimal("1.1"), places=6),
    mark=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(120_000), places=3),
    reduce_only=st.booleans(),
)
def test_prepared_orders_pass_the_exchange_or_are_refused_locally(
    symbol: str,
    kind: OrderType,
    side: Side,
    notional: Decimal,
    away: Decimal,
    mark: Decimal,
    reduce_only: bool,
) -> None:
    # Sizes and prices near the market, where most orders are valid and rounding matters.
    quantity, price = notional / mark, mark * away
    request = OrderRequest(
        symbol=symbol,
        side=side,
        type=kind,
        client_order_id="prop-1",
        quantity=quantity,
        price=price if kind is OrderType.LIMIT else None,
        stop_price=price if kind in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET) else None,
        time_in_force=TimeInForce.GTC if kind is OrderType.LIMIT else None,
        reduce_only=reduce_only,
    )
    try:
        prepared = FILTERS[symbol].prepare(request, mark_price=mark)
    except FilterViolation:
        event("refused locally")
        return
    event("sent")
    wire = urlencode(_order_params(prepared))  # exactly what the client sends
    try:
        parsed = parse_order(Params(dict(parse_pairs(wire))), SPECS)
        check_filters(parsed, SPECS[symbol], mark)
    except ApiError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"exchange refused a prepared order: {exc.code} {exc.msg}; sent {wire}")
