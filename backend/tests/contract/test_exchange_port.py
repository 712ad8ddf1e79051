"""The exchange port's contract: the paper exchange and the live one (over the fake AsterDEX
on loopback) keep it alike.

Every test runs on both. Prices are driven as each allows: the paper exchange through its
venue-simulation hook (a closed candle from the old price to the new one), the fake AsterDEX
through its own control (``set_price`` then ``process``). Where the two genuinely differ the
difference is asserted, not skipped (``executions`` returning fills once, live).
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from pydantic import SecretStr

from app.core.types import interval_delta, last_closed_open
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.errors import ExchangeRejected
from app.exchange.http.auth import HmacSigner
from app.exchange.http.client import AsterdexClient
from app.exchange.live import LiveExchange
from app.exchange.paper import PaperExchange
from app.exchange.ports import Exchange, VenueSimulation
from app.exchange.types import (
    Kline,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tests.fakes.asterdex import FakeAsterdex
from tests.fakes.clock import ManualClock

START = datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC)
BTC, ETH = "BTCUSDT", "ETHUSDT"
BALANCE = Decimal(10_000)
QTY = Decimal("0.010")
API_KEY, API_SECRET = "contract-key", "contract-secret"


@dataclass
class Subject:
    """One implementation under test, and how to move its market."""

    kind: str
    exchange: Exchange
    clock: ManualClock
    price: Callable[[str], Decimal]
    move: Callable[[str, Decimal], Awaitable[None]]


@pytest.fixture
async def live_subject() -> AsyncIterator[Subject]:
    clock = ManualClock(START)
    async with FakeAsterdex(clock=clock, rebase_to=START, symbols=[BTC, ETH]) as fake:
        fake.add_hmac_account(API_KEY, API_SECRET, balance=BALANCE)
        signer = HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET))
        async with AsterdexClient(base_url=fake.base_url, signer=signer, clock=clock) as client:
            live = LiveExchange(client, symbols=[BTC, ETH], funding_since=clock.now())
            await live.prepare()

            async def move(symbol: str, price: Decimal) -> None:
                fake.set_price(symbol, price)
                clock.advance(timedelta(seconds=1))
                await fake.process()

            yield Subject("live", live, clock, fake.price, move)
            await live.aclose()


@pytest.fixture
def paper_subject() -> Subject:
    clock = ManualClock(START)
    paper = PaperExchange(clock=clock, filters=OFFLINE_FILTERS, balance=BALANCE)
    # Round prices of the size of the recorded ones: the suite only needs a market to move.
    prices = {BTC: Decimal("100000.0"), ETH: Decimal("3000.00")}
    for symbol, price in prices.items():
        paper.set_price(symbol, price)

    async def move(symbol: str, price: Decimal) -> None:
        # The simulated venue matches on a closed candle: one bar from the old price to it.
        clock.advance(timedelta(hours=1))
        opened = last_closed_open(clock.now(), "1h")
        old = prices[symbol]
        await paper.on_closed_candle(
            Kline(
                symbol,
                "1h",
                opened,
                opened + interval_delta("1h") - timedelta(milliseconds=1),
                old,
                max(old, price),
                min(old, price),
                price,
                Decimal(100),
                Decimal(0),
                0,
                closed=True,
            )
        )
        prices[symbol] = price

    return Subject("paper", paper, clock, prices.__getitem__, move)


@pytest.fixture(params=["paper", "live"])
def subject(request: pytest.FixtureRequest) -> Subject:
    """Each implementation in turn."""
    found: Subject = request.getfixturevalue(f"{request.param}_subject")
    return found


def market(side: Side, cid: str, qty: Decimal = QTY, symbol: str = BTC) -> OrderRequest:
    return OrderRequest(symbol, side, OrderType.MARKET, cid, quantity=qty)


async def tick(subject: Subject, fraction: str) -> Decimal:
    """``fraction`` of the current BTC price, on the tick grid."""
    filters = await subject.exchange.symbol_filters(BTC)
    raw = subject.price(BTC) * Decimal(fraction)
    return filters.round_price(raw, rounding=ROUND_DOWN)


# -- the rules and the account -------------------------------------------------------------


async def test_symbol_filters(subject: Subject) -> None:
    filters = await subject.exchange.symbol_filters(BTC)

    assert filters.symbol == BTC
    assert filters.status == "TRADING"
    assert filters.tick_size > 0
    assert filters.step_size > 0
    assert filters.min_notional > 0
    with pytest.raises(ExchangeRejected) as refused:
        await subject.exchange.symbol_filters("NOPEUSDT")
    assert refused.value.exchange_code == -1121


async def test_a_fresh_account_state(subject: Subject) -> None:
    state = await subject.exchange.account_state()

    assert state.wallet_balance == BALANCE
    assert state.equity == BALANCE
    assert state.available_balance == BALANCE
    assert state.unrealized_pnl == 0
    assert state.margin_used == 0
    assert {s: p.amount for s, p in state.positions.items() if p.amount} == {}


async def test_leverage_applies_to_the_position(subject: Subject) -> None:
    await subject.exchange.set_leverage(BTC, 3)
    await subject.exchange.set_leverage(BTC, 3)  # the same again: no error

    await subject.exchange.place_order(market(Side.BUY, "lev-1"))

    position = (await subject.exchange.account_state()).positions[BTC]
    assert position.leverage == 3
    assert position.amount == QTY


# -- orders --------------------------------------------------------------------------------


async def test_a_market_order_fills_and_shows_in_positions_and_executions(
    subject: Subject,
) -> None:
    since = subject.clock.now()
    await subject.exchange.set_leverage(BTC, 2)

    placed = await subject.exchange.place_order(market(Side.BUY, "buy-1"))

    found = await subject.exchange.find_order(BTC, "buy-1")
    assert found is not None
    assert found.order_id == placed.order_id
    assert found.status is OrderStatus.FILLED
    assert found.executed_qty == QTY
    state = await subject.exchange.account_state()
    position = state.positions[BTC]
    assert position.amount == QTY
    assert position.entry_price > 0
    assert state.margin_used > 0
    assert state.wallet_balance < BALANCE  # the taker fee
    fills = await subject.exchange.executions(since)
    assert [(f.client_order_id, f.symbol, f.side) for f in fills] == [("buy-1", BTC, "BUY")]
    assert sum(f.quantity for f in fills) == QTY
    assert fills[0].order_id == placed.order_id
    assert fills[0].fee > 0
    assert not fills[0].maker


async def test_a_duplicate_client_order_id_never_places_twice(subject: Subject) -> None:
    since = subject.clock.now()
    first = await subject.exchange.place_order(market(Side.BUY, "dup-1"))

    again = await subject.exchange.place_order(market(Side.BUY, "dup-1"))
    other = await subject.exchange.place_order(market(Side.BUY, "dup-1", qty=QTY * 3))

    assert again.order_id == first.order_id
    assert other.order_id == first.order_id  # the existing order, not the new request
    assert (await subject.exchange.account_state()).positions[BTC].amount == QTY
    fills = await subject.exchange.executions(since)
    assert [f.client_order_id for f in fills] == ["dup-1"]


async def test_find_order_of_an_unknown_id_is_none(subject: Subject) -> None:
    assert await subject.exchange.find_order(BTC, "never-placed") is None
    await subject.exchange.place_order(market(Side.BUY, "known-1"))
    assert await subject.exchange.find_order(BTC, "never-placed") is None
    # The id is known, but not on this symbol.
    assert await subject.exchange.find_order(ETH, "known-1") is None


async def test_open_orders_by_symbol_and_cancel(subject: Subject) -> None:
    below = await tick(subject, "0.97")
    eth = subject.price(ETH) * Decimal("0.97")
    eth_price = (await subject.exchange.symbol_filters(ETH)).round_price(eth, rounding=ROUND_DOWN)
    limit = OrderRequest(
        BTC, Side.BUY, OrderType.LIMIT, "rest-1", QTY, below, time_in_force=TimeInForce.GTC
    )
    other = OrderRequest(
        ETH,
        Side.BUY,
        OrderType.LIMIT,
        "rest-eth",
        Decimal("0.100"),
        eth_price,
        time_in_force=TimeInForce.GTC,
    )

    placed = await subject.exchange.place_order(limit)
    await subject.exchange.place_order(other)

    assert placed.status is OrderStatus.NEW
    assert [o.client_order_id for o in await subject.exchange.open_orders(BTC)] == ["rest-1"]
    assert [o.client_order_id for o in await subject.exchange.open_orders(ETH)] == ["rest-eth"]
    assert {o.client_order_id for o in await subject.exchange.open_orders()} == {
        "rest-1",
        "rest-eth",
    }

    await subject.exchange.cancel_order(BTC, "rest-1")
    await subject.exchange.cancel_order(BTC, "rest-1")  # no longer open: not an error

    assert [o.client_order_id for o in await subject.exchange.open_orders()] == ["rest-eth"]
    cancelled = await subject.exchange.find_order(BTC, "rest-1")
    assert cancelled is not None
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.executed_qty == 0


async def test_a_close_position_stop_works_then_triggers_when_the_price_crosses(
    subject: Subject,
) -> None:
    since = subject.clock.now()
    await subject.exchange.set_leverage(BTC, 2)
    await subject.exchange.place_order(market(Side.BUY, "long-1"))
    stop_price = await tick(subject, "0.97")
    stop = OrderRequest(
        BTC, Side.SELL, OrderType.STOP_MARKET, "stop-1", stop_price=stop_price, close_position=True
    )

    working = await subject.exchange.place_order(stop)

    assert working.status is OrderStatus.NEW
    assert working.close_position
    assert [o.client_order_id for o in await subject.exchange.open_orders(BTC)] == ["stop-1"]
    await subject.move(BTC, await tick(subject, "0.985"))  # not far enough: still working
    assert [o.client_order_id for o in await subject.exchange.open_orders(BTC)] == ["stop-1"]

    await subject.move(BTC, stop_price * Decimal("0.98"))  # through the stop

    assert await subject.exchange.open_orders(BTC) == []
    triggered = await subject.exchange.find_order(BTC, "stop-1")
    assert triggered is not None
    assert triggered.status is OrderStatus.FILLED
    assert triggered.executed_qty == QTY
    state = await subject.exchange.account_state()
    assert not state.positions.get(BTC) or state.positions[BTC].amount == 0
    fills = await subject.exchange.executions(since)
    assert [(f.client_order_id, f.side) for f in fills] == [("long-1", "BUY"), ("stop-1", "SELL")]
    assert fills[1].realized_pnl < 0
    assert fills[1].price <= stop_price  # at the stop or worse (a gap, slippage)


async def test_executions_have_no_duplicates(subject: Subject) -> None:
    since = subject.clock.now()
    for n, side in enumerate([Side.BUY, Side.BUY, Side.SELL, Side.BUY]):
        await subject.exchange.place_order(market(side, f"exe-{n}"))
        subject.clock.advance(timedelta(seconds=1))

    fills = await subject.exchange.executions(since)
    again = await subject.exchange.executions(since)

    assert len({(f.symbol, f.trade_id) for f in fills}) == len(fills)
    assert {f.client_order_id for f in fills} == {f"exe-{n}" for n in range(4)}
    assert [f.time for f in fills] == sorted(f.time for f in fills)
    assert all(f.time >= since for f in fills)
    if subject.kind == "paper":
        # The paper exchange is a record: every fill since ``since``, on every call.
        assert again == fills
    else:
        # The live exchange hands each fill out once (a cursor over the stream and REST):
        # a second look with nothing new is empty.
        assert again == []


async def test_the_venue_simulation_hooks(subject: Subject) -> None:
    """Paper charges funding and matches on candles; live leaves both to AsterDEX."""
    hooks: VenueSimulation = subject.exchange  # part of the port, under its own name
    await subject.exchange.place_order(market(Side.BUY, "fund-1"))
    stop_price = await tick(subject, "0.97")
    await subject.exchange.place_order(
        OrderRequest(
            BTC,
            Side.SELL,
            OrderType.STOP_MARKET,
            "fund-stop",
            stop_price=stop_price,
            close_position=True,
        )
    )
    wallet = (await subject.exchange.account_state()).wallet_balance
    price = subject.price(BTC)

    paid = await hooks.settle_funding(BTC, Decimal("0.001"), price)
    opened = last_closed_open(subject.clock.now(), "1h") + timedelta(hours=1)
    crash = Kline(
        BTC,
        "1h",
        opened,
        opened + interval_delta("1h") - timedelta(milliseconds=1),
        price,
        price,
        stop_price * Decimal("0.9"),
        price,
        Decimal(100),
        Decimal(0),
        0,
        closed=True,
    )
    subject.clock.advance(timedelta(hours=2))
    await hooks.on_closed_candle(crash)  # a bar through the stop that closes back up

    after = await subject.exchange.account_state()
    stops = [o.client_order_id for o in await subject.exchange.open_orders(BTC)]
    if subject.kind == "paper":
        assert paid == -(QTY * price * Decimal("0.001")).quantize(Decimal("1e-8"))
        assert stops == []  # the simulated venue matched the stop on the bar
        assert not after.positions.get(BTC)
    else:
        # No funding time passed on the venue: nothing charged, nothing reported. And the
        # candle is not the venue's: the stop still works, the position is still open.
        assert paid == 0
        assert stops == ["fund-stop"]
        assert after.positions[BTC].amount == QTY
        assert after.wallet_balance == wallet
