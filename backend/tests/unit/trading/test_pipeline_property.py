"""Property: any reply a model could send (any JSON, numbers, symbols), once parsed and judged,
yields only orders inside every limit and the exchange filters."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.exchange.types import OrderRequest, OrderType
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.parsing import DecisionParseError, parse_decision
from app.trading.domain import AccountSnapshot, LegStatus, MarketSnapshot, RiskLimits, RiskState
from app.trading.risk import evaluate

from .strategies import FILTERS, HOUR, NOW, accounts, limits, markets, states

NAMES = {"BTC": "BTCUSDT", "BTCUSDT": "BTCUSDT", "SOL": "SOLUSDT", "SOLUSDT": "SOLUSDT"}
FEATURES = feature_names(IndicatorConfig())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1e400", "-0", "NaN", "Infinity", "67000", "0.5"]),
)
anything = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(min_value=-(10**9), max_value=10**12),
)
leg = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["BTC", "SOLUSDT", "DOGE", "btc", "", "ETH"]),
        "action": st.sampled_from(["open_long", "open_short", "close", "reduce", "hold", "buy"]),
        "size_usd": numbers,
        "leverage": numbers,
        "stop_loss": numbers,
        "take_profit": numbers,
        "invalidation": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "condition": st.sampled_from(["close_1h < ema50_1h", "rsi_4h > 70", "x"]),
                    "text": st.text(max_size=5),
                }
            ),
        ),
        "confidence": st.floats(min_value=0, max_value=1),
        "rationale": st.text(max_size=10),
    }
)
replies = st.one_of(
    anything.map(json.dumps),
    st.fixed_dictionaries(
        {"decisions": st.lists(leg, max_size=4), "summary": st.text(max_size=10)}
    ).map(json.dumps),
    st.text(max_size=60),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reply=replies, data=st.data())
def test_any_reply_yields_only_orders_inside_the_limits(reply: str, data: st.DataObject) -> None:
    market: dict[str, MarketSnapshot] = data.draw(markets())
    account: AccountSnapshot = data.draw(accounts(market))
    limit: RiskLimits = data.draw(limits())
    state: RiskState = data.draw(states())
    try:
        decision = parse_decision(reply, symbols=NAMES, features=FEATURES, intervals={"1h", "4h"})
    except DecisionParseError:
        return  # nothing validated: everything holds, no order at all
    proposals = [leg.proposal for leg in decision.legs]

    verdicts = evaluate(proposals, account, market, limit, state, now=NOW, interval=HOUR)

    for verdict in verdicts:
        if verdict.status in (LegStatus.REJECTED, LegStatus.HOLD):
            assert not verdict.orders
            continue
        mark = market[verdict.proposal.symbol].mark_price
        for order in verdict.orders:
            position = account.positions.get(order.symbol)
            if order.reduce_only:
                assert position is not None
                assert order.quantity <= position.quantity
                continue
            assert not state.halted
            assert verdict.leverage is not None
            assert 1 <= verdict.leverage <= limit.max_leverage
            assert order.quantity * mark <= limit.max_position_usd
            assert verdict.stop_loss is not None
            FILTERS[order.symbol].check(
                OrderRequest(
                    order.symbol, order.side, OrderType.MARKET, "p", quantity=order.quantity
                ),
                mark_price=mark,
            )
