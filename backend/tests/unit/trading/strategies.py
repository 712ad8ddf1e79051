"""Hypothesis strategies for the risk engine: accounts, markets, limits, wild proposals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from app.exchange.defaults import OFFLINE_FILTERS
from app.trading.domain import (
    AccountSnapshot,
    Action,
    MarketSnapshot,
    Position,
    PositionSide,
    Proposal,
    RiskLimits,
    RiskState,
)

NOW = datetime(2026, 4, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


FILTERS = {symbol: OFFLINE_FILTERS[symbol] for symbol in ("BTCUSDT", "SOLUSDT")}
SYMBOLS = [*FILTERS, "DOGEUSDT"]  # one the account does not trade

money = st.decimals(min_value=Decimal(0), max_value=Decimal(1_000_000), places=2)
prices = st.decimals(min_value=Decimal(1), max_value=Decimal(150_000), places=2)
wild = st.one_of(
    st.none(),
    st.decimals(allow_nan=True, allow_infinity=True, places=4),
    st.decimals(min_value=Decimal(-1000), max_value=Decimal(10_000_000), places=3),
    st.sampled_from([Decimal(0), Decimal("-1"), Decimal("1e30"), Decimal("0.0001")]),
)


@st.composite
def markets(draw: st.DrawFn) -> dict[str, MarketSnapshot]:
    result = {}
    for symbol, filters in FILTERS.items():
        mark = draw(prices)
        atr = draw(
            st.one_of(st.none(), st.decimals(min_value=Decimal(0), max_value=mark / 4, places=2))
        )
        result[symbol] = MarketSnapshot(mark_price=mark, atr=atr, filters=filters)
    return result


@st.composite
def accounts(draw: st.DrawFn, market: dict[str, MarketSnapshot]) -> AccountSnapshot:
    equity = draw(
        st.one_of(money, st.decimals(min_value=Decimal(1000), max_value=Decimal(200_000), places=2))
    )
    positions = {}
    for symbol in draw(st.sets(st.sampled_from(list(FILTERS)))):
        step = FILTERS[symbol].step_size
        steps = draw(st.integers(min_value=1, max_value=50_000))
        positions[symbol] = Position(
            symbol=symbol,
            side=draw(st.sampled_from(list(PositionSide))),
            quantity=step * steps,
            entry_price=draw(prices),
            opened_at=NOW - HOUR * draw(st.integers(min_value=0, max_value=20)),
        )
    return AccountSnapshot(
        equity=equity,
        available_margin=draw(st.decimals(min_value=Decimal(0), max_value=equity, places=2)),
        positions=positions,
    )


@st.composite
def limits(draw: st.DrawFn) -> RiskLimits:
    return RiskLimits(
        max_position_usd=draw(
            st.decimals(min_value=Decimal(10), max_value=Decimal(100_000), places=2)
        ),
        max_leverage=Decimal(draw(st.integers(min_value=1, max_value=125))),
        max_total_exposure_usd=draw(
            st.decimals(min_value=Decimal(10), max_value=Decimal(500_000), places=2)
        ),
        allow_pyramiding=draw(st.booleans()),
        min_hold_bars=draw(st.integers(min_value=0, max_value=6)),
    )


@st.composite
def states(draw: st.DrawFn) -> RiskState:
    stopped = {
        s: NOW - HOUR * draw(st.integers(min_value=0, max_value=10))
        for s in draw(st.sets(st.sampled_from(list(FILTERS))))
    }
    halted = draw(st.integers(min_value=0, max_value=4)) == 0
    return RiskState(
        day=NOW.date(),
        day_start_equity=Decimal(1000),
        halted=halted,
        halt_reason="halted" if halted else None,
        stop_outs=stopped,
    )


proposals = st.builds(
    Proposal,
    symbol=st.sampled_from(SYMBOLS),
    action=st.sampled_from(list(Action)),
    size_usd=wild,
    leverage=wild,
    stop_loss=wild,
    take_profit=wild,
)


@st.composite
def plausible(draw: st.DrawFn, market: dict[str, MarketSnapshot]) -> Proposal:
    """A proposal a sane model might send: stops and targets near the price."""
    symbol = draw(st.sampled_from(list(market)))
    mark = market[symbol].mark_price
    action = draw(st.sampled_from(list(Action)))
    long = action is not Action.OPEN_SHORT
    away = draw(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.3"), places=4))
    stop = mark * (1 - away) if long else mark * (1 + away)
    target = mark * (1 + 2 * away) if long else mark * (1 - 2 * away)
    return Proposal(
        symbol=symbol,
        action=action,
        size_usd=draw(st.decimals(min_value=Decimal(1), max_value=Decimal(60_000), places=2)),
        leverage=Decimal(draw(st.integers(min_value=1, max_value=30))),
        stop_loss=stop.quantize(Decimal("0.0001")),
        take_profit=target.quantize(Decimal("0.0001")),
    )
