"""Property: whatever is proposed, every order the risk engine lets out is inside the limits."""

from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.exchange.types import OrderRequest, OrderType
from app.trading.domain import (
    AccountSnapshot,
    LegStatus,
    MarketSnapshot,
    PositionSide,
    Proposal,
    RiskLimits,
    RiskState,
)
from app.trading.risk import evaluate

from .strategies import HOUR, NOW, accounts, limits, markets, plausible, proposals, states


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[Proposal], AccountSnapshot, dict[str, MarketSnapshot], RiskLimits, RiskState]:
    market = draw(markets())
    return (
        draw(
            st.one_of(
                st.lists(st.one_of(proposals, plausible(market)), max_size=5),
                st.lists(plausible(market), min_size=1, max_size=2, unique_by=lambda p: p.symbol),
            )
        ),
        draw(accounts(market)),
        market,
        draw(limits()),
        draw(states()),
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_order_respects_every_limit(
    scenario: tuple[
        list[Proposal], AccountSnapshot, dict[str, MarketSnapshot], RiskLimits, RiskState
    ],
) -> None:
    batch, account, market, limit, state = scenario

    verdicts = evaluate(batch, account, market, limit, state, now=NOW, interval=HOUR)

    assert len(verdicts) == len(batch)
    existing = sum(
        (p.quantity * market[s].mark_price for s, p in account.positions.items()), Decimal(0)
    )
    new_exposure = Decimal(0)
    margin_used = Decimal(0)
    entered: set[str] = set()
    for verdict in verdicts:
        if verdict.status in (LegStatus.REJECTED, LegStatus.HOLD):
            assert verdict.orders == ()
            continue
        symbol = verdict.proposal.symbol
        mark = market[symbol].mark_price
        filters = market[symbol].filters
        position = account.positions.get(symbol)
        for order in verdict.orders:
            assert order.quantity > 0
            if order.reduce_only:
                assert position is not None
                assert order.quantity <= position.quantity
                assert order.side is position.side.exit_side
        if not verdict.proposal.action.opens:
            assert all(o.reduce_only for o in verdict.orders)
            continue
        # An entry.
        assert not state.halted
        assert symbol not in entered
        entered.add(symbol)
        entry = verdict.orders[-1]
        assert not entry.reduce_only
        assert verdict.leverage is not None
        assert 1 <= verdict.leverage <= limit.max_leverage
        notional = entry.quantity * mark
        assert notional == verdict.notional_usd
        assert notional <= limit.max_position_usd
        filters.check(
            OrderRequest(symbol, entry.side, OrderType.MARKET, "p", quantity=entry.quantity),
            mark_price=mark,
        )
        side = PositionSide.LONG if entry.side.value == "BUY" else PositionSide.SHORT
        if position is not None:
            assert limit.allow_pyramiding or position.side is not side
        stop = verdict.stop_loss
        assert stop is not None
        assert (stop < mark) if side is PositionSide.LONG else (stop > mark)
        assert abs(mark - stop) <= mark * limit.max_stop_distance + filters.tick_size
        loss_at_stop = entry.quantity * abs(mark - stop)
        assert (
            loss_at_stop
            <= account.equity * limit.max_loss_per_trade + entry.quantity * filters.tick_size
        )
        if verdict.take_profit is not None:
            assert (
                (verdict.take_profit > mark)
                if side is PositionSide.LONG
                else (verdict.take_profit < mark)
            )
        flipped = (
            position.quantity * mark if position is not None and len(verdict.orders) == 2 else 0
        )
        new_exposure += notional - flipped
        margin_used += notional / verdict.leverage
    event(f"entries approved: {min(len(entered), 2)}")
    for verdict in verdicts:
        if verdict.proposal.action.opens and verdict.status is LegStatus.REJECTED:
            event(f"entry rejected by {verdict.adjustments[-1].rule}")
    assert existing + new_exposure <= max(limit.max_total_exposure_usd, existing) + Decimal("0.01")
    assert margin_used <= account.available_margin
