"""The paper exchange on real BTCUSDT 1h candles; every expected number is worked out by hand.

Defaults under test: taker fee 0.035 %, maker fee 0.01 %, slippage 2 bps, maintenance margin
0.5 %, BTCUSDT tick 0.1 and step 0.001.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.errors import FilterViolation, InsufficientFunds, OrderRejected
from app.exchange.paper import PaperExchange
from app.exchange.ports import AccountState, Execution, PositionState
from app.exchange.types import Kline, OrderRequest, OrderStatus, OrderType, Side
from tests.data import real_klines
from tests.fakes.clock import ManualClock

BTC = "BTCUSDT"
BARS = real_klines(BTC, "1h", 20)  # from 2019-09-08 17:00 UTC
START = BARS[0].open_time
TAKER, MAKER = Decimal("0.00035"), Decimal("0.0001")
BUY_SLIP, SELL_SLIP = Decimal("1.0002"), Decimal("0.9998")  # 2 bps against the taker
ZERO = Decimal(0)


FILTERS = {BTC: OFFLINE_FILTERS[BTC]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make(clock: ManualClock, balance: str = "10000") -> PaperExchange:
    return PaperExchange(clock=clock, filters=FILTERS, balance=Decimal(balance))


async def feed(exchange: PaperExchange, clock: ManualClock, *bars: Kline) -> None:
    for bar in bars:
        clock.set(bar.close_time)
        await exchange.on_closed_candle(bar)


def market(cid: str, side: Side, qty: str, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        BTC, side, OrderType.MARKET, cid, quantity=Decimal(qty), reduce_only=reduce_only
    )


def conditional(
    cid: str, side: Side, stop: str, kind: OrderType = OrderType.STOP_MARKET
) -> OrderRequest:
    return OrderRequest(BTC, side, kind, cid, stop_price=Decimal(stop), close_position=True)


def status(exchange: PaperExchange, cid: str) -> OrderStatus | None:
    order = exchange.order(cid)
    return order.status if order else None


def assert_wallet_is_balance_plus_incomes(exchange: PaperExchange, balance: Decimal) -> None:
    wallet = exchange.snapshot()["wallet"]
    assert Decimal(wallet) == balance + sum((i.income for i in exchange.incomes()), ZERO)


async def test_market_buy_fills_with_slippage_and_taker_fee(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    mark = Decimal("10340.12")
    assert BARS[2].close == mark
    order = await exchange.place_order(market("a-1", Side.BUY, "0.1"))
    assert mark * BUY_SLIP == Decimal("10342.188024")
    fill = Decimal("10342.2")  # rounded up to the 0.1 tick, against the buyer
    fee = fill * Decimal("0.1") * TAKER
    assert fee == Decimal("0.361977")
    assert (order.order_id, order.status, order.avg_price) == (1, OrderStatus.FILLED, fill)
    assert order.executed_qty == Decimal("0.1")
    assert await exchange.executions(START) == [
        Execution(BTC, "a-1", 1, "paper-1", "BUY", fill, Decimal("0.1"), fee, "USDT", ZERO, False,
                  BARS[2].close_time)
    ]  # fmt: skip
    upnl = Decimal("0.1") * (mark - fill)
    assert upnl == Decimal("-0.208")
    wallet, margin = Decimal("9999.638023"), Decimal("1034.22")  # 10000 - fee; 0.1 x 10342.2 / 1x
    assert await exchange.account_state() == AccountState(
        wallet_balance=wallet,
        equity=wallet + upnl,
        available_balance=Decimal("8965.210023"),  # 9999.430023 - 1034.22
        unrealized_pnl=upnl,
        margin_used=margin,
        positions={BTC: PositionState(BTC, Decimal("0.1"), fill, mark, upnl, 1)},
    )
    assert_wallet_is_balance_plus_incomes(exchange, Decimal(10000))


async def _long_with_protection(exchange: PaperExchange, clock: ManualClock, stop: str) -> None:
    """Long 0.1 at 10342.2 (fee 0.361977) after bar 2, stop ``stop``, take profit 10500."""
    await feed(exchange, clock, BARS[2])
    await exchange.place_order(market("b-1", Side.BUY, "0.1"))
    await exchange.place_order(conditional("b-sl", Side.SELL, stop))
    await exchange.place_order(
        conditional("b-tp", Side.SELL, "10500", OrderType.TAKE_PROFIT_MARKET)
    )
    await feed(exchange, clock, *BARS[3:9])
    assert min(b.low for b in BARS[3:9]) == Decimal("10324.77")  # above both stops
    assert max(b.high for b in BARS[3:9]) == Decimal("10412.65")  # below the take profit
    assert len(await exchange.open_orders(BTC)) == 2


async def test_stop_loss_triggers_on_a_later_candles_low(clock: ManualClock) -> None:
    exchange = make(clock)
    await _long_with_protection(exchange, clock, "10300")
    bar = BARS[9]
    assert (bar.open, bar.low) == (Decimal("10316.62"), Decimal("10294.29"))  # low <= 10300
    await feed(exchange, clock, bar)
    assert Decimal(10300) * SELL_SLIP == Decimal("10297.94")
    exit_price = Decimal("10297.9")  # rounded down, against the seller
    pnl = Decimal("0.1") * (exit_price - Decimal("10342.2"))
    fee = exit_price * Decimal("0.1") * TAKER
    assert (pnl, fee) == (Decimal("-4.43"), Decimal("0.3604265"))
    [_, execution] = await exchange.executions(START)
    assert (execution.client_order_id, execution.price, execution.time) == (
        "b-sl",
        exit_price,
        bar.close_time,
    )
    assert (execution.realized_pnl, execution.fee) == (pnl, fee)
    state = await exchange.account_state()
    assert state.wallet_balance == Decimal(10000) - Decimal("0.361977") + pnl - fee
    assert state.wallet_balance == Decimal("9994.8475965")
    assert (state.positions, state.margin_used, state.equity) == ({}, ZERO, state.wallet_balance)
    assert status(exchange, "b-sl") is OrderStatus.FILLED
    assert status(exchange, "b-tp") is OrderStatus.EXPIRED  # its position is gone
    assert await exchange.open_orders() == []
    assert_wallet_is_balance_plus_incomes(exchange, Decimal(10000))


async def test_a_bar_gapping_through_the_stop_fills_at_its_open(clock: ManualClock) -> None:
    exchange = make(clock)
    await _long_with_protection(exchange, clock, "10320")
    await feed(exchange, clock, BARS[9])  # opens at 10316.62, already below 10320
    assert Decimal("10316.62") * SELL_SLIP == Decimal("10314.556676")
    [_, execution] = await exchange.executions(START)
    assert execution.price == Decimal("10314.5")  # 10314.556676 rounded down
    assert execution.realized_pnl == Decimal("0.1") * (Decimal("10314.5") - Decimal("10342.2"))


async def test_take_profit_triggers_on_a_later_candles_high(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[17])
    assert BARS[17].close * BUY_SLIP == Decimal("10255.30065")
    entry = Decimal("10255.4")
    await exchange.place_order(market("c-1", Side.BUY, "0.2"))
    await exchange.place_order(conditional("c-sl", Side.SELL, "10100"))
    await exchange.place_order(
        conditional("c-tp", Side.SELL, "10450", OrderType.TAKE_PROFIT_MARKET)
    )
    bar = BARS[18]
    assert bar.open == Decimal("10247.69")
    assert bar.high == Decimal("10475.54")  # >= 10450: the take profit triggers
    assert bar.low == Decimal("10222.75")  # > 10100: the stop does not
    await feed(exchange, clock, bar)
    exit_price = Decimal("10447.9")  # 10450 x 0.9998 = 10447.91, rounded down
    pnl = Decimal("0.2") * (exit_price - entry)
    fees = (entry + exit_price) * Decimal("0.2") * TAKER
    assert (pnl, fees) == (Decimal("38.5"), Decimal("1.449231"))  # 0.717878 + 0.731353
    [_, execution] = await exchange.executions(START)
    assert (execution.client_order_id, execution.price) == ("c-tp", exit_price)
    assert execution.realized_pnl == pnl
    state = await exchange.account_state()
    assert state.wallet_balance == Decimal("10037.050769")  # 10000 + 38.5 - 1.449231
    assert status(exchange, "c-sl") is OrderStatus.EXPIRED


async def test_stop_wins_when_stop_and_take_profit_trigger_in_one_bar(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[17])
    await exchange.place_order(market("d-1", Side.SELL, "0.1"))  # short
    assert BARS[17].close * SELL_SLIP == Decimal("10251.19935")
    entry = Decimal("10251.1")
    # The take profit is placed first: the stop still goes first within the bar.
    await exchange.place_order(conditional("d-tp", Side.BUY, "10230", OrderType.TAKE_PROFIT_MARKET))
    await exchange.place_order(conditional("d-sl", Side.BUY, "10400"))
    assert BARS[18].low <= Decimal(10230)  # the take profit could trigger ...
    assert BARS[18].high >= Decimal(10400)  # ... and so could the stop
    await feed(exchange, clock, BARS[18])
    assert Decimal(10400) * BUY_SLIP == Decimal("10402.08")
    exit_price = Decimal("10402.1")  # rounded up, against the buyer
    pnl = Decimal("0.1") * (entry - exit_price)
    fees = (entry + exit_price) * Decimal("0.1") * TAKER
    assert (pnl, fees) == (Decimal("-15.1"), Decimal("0.722862"))  # 0.3587885 + 0.3640735
    [_, execution] = await exchange.executions(START)
    assert (execution.client_order_id, execution.side) == ("d-sl", "BUY")
    assert execution.price == exit_price
    assert execution.realized_pnl == pnl
    assert (await exchange.account_state()).wallet_balance == Decimal("9984.177138")
    assert status(exchange, "d-tp") is OrderStatus.EXPIRED


async def test_funding_is_paid_by_a_long_and_received_by_a_short(clock: ManualClock) -> None:
    rate, mark = Decimal("0.0001"), Decimal(10300)
    payment = Decimal("0.1") * mark * rate
    assert payment == Decimal("0.103")
    long, short = make(clock), make(clock)
    for exchange, side in ((long, Side.BUY), (short, Side.SELL)):
        await feed(exchange, clock, BARS[2])
        await exchange.place_order(market("e-1", side, "0.1"))
    assert long.apply_funding(BTC, rate, mark) == -payment
    assert short.apply_funding(BTC, rate, mark) == payment
    assert await long.settle_funding(BTC, -rate, mark) == payment  # negative rate: shorts pay
    long_fee = Decimal("10342.2") * Decimal("0.1") * TAKER
    short_fee = Decimal("10338.0") * Decimal("0.1") * TAKER  # 10340.12 x 0.9998, rounded down
    assert (await long.account_state()).wallet_balance == Decimal(10000) - long_fee
    assert (await short.account_state()).wallet_balance == Decimal("9999.74117")
    assert Decimal(10000) - short_fee + payment == Decimal("9999.74117")
    [funding] = [i for i in short.incomes() if i.income_type == "FUNDING_FEE"]
    assert (funding.symbol, funding.income, funding.time) == (BTC, payment, BARS[2].close_time)
    assert make(clock).apply_funding(BTC, rate, mark) == ZERO  # no position: nothing
    assert_wallet_is_balance_plus_incomes(long, Decimal(10000))


async def test_liquidation_on_a_big_adverse_move_at_high_leverage(clock: ManualClock) -> None:
    exchange = make(clock, balance="110")
    await exchange.set_leverage(BTC, 100)
    await feed(exchange, clock, BARS[13])
    entry = Decimal("10258.2")  # 10256.09 x 1.0002 = 10258.141218, rounded up
    margin, entry_fee = entry / 100, entry * TAKER
    assert margin + entry_fee == Decimal("106.17237")  # fits the 110 balance
    await exchange.place_order(market("f-1", Side.BUY, "1"))
    await exchange.place_order(conditional("f-sl", Side.SELL, "10000"))
    exchange.set_price(BTC, Decimal(10220))
    # 102.582 + (10220 - 10258.2) = 64.382 > 0.005 x 10220 = 51.1: still open
    assert BTC in (await exchange.account_state()).positions
    bar = BARS[14]
    assert (bar.low, bar.close) == (Decimal("10092.71"), Decimal("10149.47"))  # stop untouched
    await feed(exchange, clock, bar)
    loss = bar.close - entry
    assert margin + loss == Decimal("-6.148")  # <= 0.005 x 10149.47: liquidated at the close
    fee = bar.close * TAKER
    assert (loss, fee) == (Decimal("-108.73"), Decimal("3.5523145"))
    executions = await exchange.executions(START)
    assert executions[-1] == Execution(
        BTC, "liquidation-1", 3, "paper-2", "SELL", bar.close, Decimal(1), fee, "USDT", loss,
        False, bar.close_time,
    )  # fmt: skip
    # 110 - 3.59037 - 108.73 - 3.5523145 = -5.8726845: the deficit is cleared, not owed
    [clear] = [i for i in exchange.incomes() if i.income_type == "INSURANCE_CLEAR"]
    assert clear.income == Decimal("5.8726845")
    state = await exchange.account_state()
    assert (state.wallet_balance, state.available_balance, state.positions) == (ZERO, ZERO, {})
    assert status(exchange, "f-sl") is OrderStatus.EXPIRED
    assert_wallet_is_balance_plus_incomes(exchange, Decimal(110))


async def test_place_order_is_idempotent_on_client_order_id(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    first = await exchange.place_order(market("g-1", Side.BUY, "0.1"))
    again = await exchange.place_order(market("g-1", Side.BUY, "0.1"))
    other = await exchange.place_order(market("g-1", Side.SELL, "0.5"))  # same id, other order
    assert first == again == other
    stop = conditional("g-sl", Side.SELL, "10000")
    assert await exchange.place_order(stop) == await exchange.place_order(stop)
    assert len(await exchange.executions(START)) == 1
    assert len(await exchange.open_orders()) == 1
    state = await exchange.account_state()
    assert state.wallet_balance == Decimal("9999.638023")  # one fee only
    assert state.positions[BTC].amount == Decimal("0.1")


async def test_reduce_only_orders_only_reduce(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    for request in (
        market("h-1", Side.SELL, "0.1", reduce_only=True),  # no position
        conditional("h-2", Side.SELL, "10000"),  # closePosition without a position
    ):
        with pytest.raises(OrderRejected) as refused:
            await exchange.place_order(request)
        assert refused.value.exchange_code == -2022
        assert exchange.order(request.client_order_id) is None  # a refusal is not remembered
    await exchange.place_order(market("h-3", Side.BUY, "0.1"))
    for request in (
        market("h-4", Side.BUY, "0.1", reduce_only=True),  # would grow the long
        conditional("h-5", Side.BUY, "10500"),  # a BUY stop cannot close a long
    ):
        with pytest.raises(OrderRejected) as refused:
            await exchange.place_order(request)
        assert refused.value.exchange_code == -2022
    closed = await exchange.place_order(market("h-6", Side.SELL, "0.5", reduce_only=True))
    assert closed.executed_qty == Decimal("0.1")  # capped at the position: no flip to a short
    [_, execution] = await exchange.executions(START)
    assert execution.price == Decimal("10338.0")  # 10340.12 x 0.9998 = 10338.051976, down
    assert execution.realized_pnl == Decimal("0.1") * (Decimal("10338.0") - Decimal("10342.2"))
    assert (await exchange.account_state()).positions == {}


async def test_other_refusals(clock: ManualClock) -> None:
    exchange = make(clock)
    with pytest.raises(OrderRejected, match="no price"):
        await exchange.place_order(market("r-1", Side.BUY, "0.1"))
    await feed(exchange, clock, BARS[2])
    unknown = OrderRequest("DOGEUSDT", Side.BUY, OrderType.MARKET, "r-2", quantity=Decimal(1))
    trailing = OrderRequest(BTC, Side.BUY, OrderType.TRAILING_STOP_MARKET, "r-3", Decimal(1))
    await exchange.place_order(market("r-0", Side.BUY, "0.1"))
    cases = [
        (unknown, -1121),
        (trailing, -1116),
        (conditional("r-4", Side.SELL, "10400"), -2021),  # above 10340.12: would trigger now
        (conditional("r-5", Side.SELL, "10300", OrderType.TAKE_PROFIT_MARKET), -2021),
    ]
    for request, code in cases:
        with pytest.raises(OrderRejected) as refused:
            await exchange.place_order(request)
        assert refused.value.exchange_code == code
    with pytest.raises(FilterViolation):
        await exchange.place_order(market("r-6", Side.BUY, "0.0001"))  # below the 0.001 lot
    for leverage in (0, 126):
        with pytest.raises(OrderRejected) as refused:
            await exchange.set_leverage(BTC, leverage)
        assert refused.value.exchange_code == -4028


async def test_insufficient_margin(clock: ManualClock) -> None:
    exchange = make(clock, balance="1000")
    await feed(exchange, clock, BARS[2])
    fill = Decimal("10342.2")
    fee = Decimal("0.1") * fill * TAKER
    assert Decimal("0.1") * fill / 1 + fee == Decimal("1034.581977")  # > 1000 at 1x
    with pytest.raises(InsufficientFunds) as refused:
        await exchange.place_order(market("j-1", Side.BUY, "0.1"))
    assert refused.value.exchange_code == -2019
    assert (await exchange.account_state()).wallet_balance == Decimal(1000)
    assert exchange.order("j-1") is None
    await exchange.set_leverage(BTC, 2)
    assert Decimal("0.1") * fill / 2 + fee == Decimal("517.471977")  # fits at 2x
    await exchange.place_order(market("j-1", Side.BUY, "0.1"))
    state = await exchange.account_state()
    # (1000 - 0.361977 - 0.208) - 517.11 = 482.320023 < 517.471977: a second one does not fit
    assert state.available_balance == Decimal("482.320023")
    with pytest.raises(InsufficientFunds):
        await exchange.place_order(market("j-2", Side.BUY, "0.1"))
    await exchange.place_order(market("j-3", Side.SELL, "0.1", reduce_only=True))  # always ok
    assert (await exchange.account_state()).positions == {}


async def test_snapshot_restore_round_trip(clock: ManualClock) -> None:
    exchange = make(clock)
    await exchange.set_leverage(BTC, 5)
    await _long_with_protection(exchange, clock, "10300")
    limit = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "i-lim", Decimal("0.1"), Decimal(10000))
    await exchange.place_order(limit)
    await exchange.cancel_order(BTC, "i-lim")
    exchange.apply_funding(BTC, Decimal("0.0001"), Decimal(10300))
    saved = json.loads(json.dumps(exchange.snapshot()))
    restored = PaperExchange.restore(saved, clock=clock, filters=FILTERS, balance=Decimal(1))
    assert await restored.account_state() == await exchange.account_state()
    assert (await restored.account_state()).positions[BTC].leverage == 5
    assert await restored.open_orders() == await exchange.open_orders()
    assert await restored.executions(START) == await exchange.executions(START)
    assert restored.incomes() == exchange.incomes()
    assert restored.order("i-lim") == exchange.order("i-lim")
    assert restored.snapshot() == exchange.snapshot()
    # The ids stay known and the last bar is not matched again.
    assert await restored.place_order(market("b-1", Side.BUY, "0.1")) == exchange.order("b-1")
    await restored.on_closed_candle(BARS[8])
    assert restored.snapshot() == exchange.snapshot()
    for paper in (exchange, restored):
        await feed(paper, clock, BARS[9])
    assert restored.snapshot() == exchange.snapshot()
    assert status(restored, "b-sl") is OrderStatus.FILLED
    with pytest.raises(ValueError, match="version"):
        PaperExchange.restore({}, clock=clock, filters=FILTERS, balance=Decimal(1))


async def test_limit_order_fills_at_its_price_with_the_maker_fee(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    limit = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "l-1", Decimal("0.1"), Decimal(10300))
    await exchange.place_order(limit)
    await feed(exchange, clock, *BARS[3:9])
    assert status(exchange, "l-1") is OrderStatus.NEW
    await feed(exchange, clock, BARS[9])  # low 10294.29
    [execution] = await exchange.executions(START)
    assert (execution.price, execution.maker) == (Decimal(10300), True)
    assert execution.fee == Decimal(10300) * Decimal("0.1") * MAKER == Decimal("0.103")


async def test_increase_averages_the_entry_and_a_flip_reopens_at_the_fill(
    clock: ManualClock,
) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    await exchange.place_order(market("k-1", Side.BUY, "0.1"))  # at 10342.2
    await feed(exchange, clock, BARS[3])
    assert BARS[3].close * BUY_SLIP == Decimal("10353.490284")
    await exchange.place_order(market("k-2", Side.BUY, "0.2"))  # at 10353.5
    entry = (Decimal("0.1") * Decimal("10342.2") + Decimal("0.2") * Decimal("10353.5")) / Decimal(
        "0.3"
    )
    assert (await exchange.account_state()).positions[BTC].entry_price == entry
    await feed(exchange, clock, BARS[4])
    assert BARS[4].close * SELL_SLIP == Decimal("10389.82162")
    await exchange.place_order(market("k-3", Side.SELL, "0.5"))  # at 10389.8
    execution = (await exchange.executions(START))[-1]
    pnl = Decimal("0.3") * (Decimal("10389.8") - entry)  # 12.020000000000000000000001
    assert execution.realized_pnl == pnl.quantize(Decimal("1e-8")) == Decimal("12.02")
    position = (await exchange.account_state()).positions[BTC]
    assert (position.amount, position.entry_price) == (Decimal("-0.2"), Decimal("10389.8"))


async def test_cancel_is_idempotent_and_candles_are_matched_once(clock: ManualClock) -> None:
    exchange = make(clock)
    await _long_with_protection(exchange, clock, "10300")
    await exchange.cancel_order(BTC, "b-tp")
    await exchange.cancel_order(BTC, "b-tp")
    await exchange.cancel_order(BTC, "never-placed")
    assert status(exchange, "b-tp") is OrderStatus.CANCELED
    assert [o.client_order_id for o in await exchange.open_orders(BTC)] == ["b-sl"]
    before = exchange.snapshot()
    await exchange.on_closed_candle(replace(BARS[9], closed=False))  # still forming: ignored
    await exchange.on_closed_candle(BARS[5])  # older than the last bar: ignored
    assert exchange.snapshot() == before
    await feed(exchange, clock, BARS[9], BARS[9])  # the second time changes nothing
    assert [e.client_order_id for e in await exchange.executions(BARS[9].close_time)] == ["b-sl"]
    assert await exchange.executions(BARS[9].close_time + timedelta(milliseconds=1)) == []


async def test_reads_after_every_change_are_those_of_a_fresh_copy(clock: ManualClock) -> None:
    """Balances and order views are kept between reads: every change must show at once.

    After each step the exchange is read twice (the second read is the kept one) and
    compared with a copy restored from its snapshot, which has kept nothing yet.
    """
    exchange = make(clock)

    async def reads(of: PaperExchange) -> tuple[object, ...]:
        state = await of.account_state()
        return (
            state,
            await of.open_orders(),
            [of.order(cid) for cid in ("s-1", "s-sl", "s-tp", "s-lim")],
            await of.executions(START),
        )

    async def check() -> None:
        first = await reads(exchange)
        fresh = PaperExchange.restore(
            exchange.snapshot(), clock=clock, filters=FILTERS, balance=ZERO
        )
        assert first == await reads(exchange) == await reads(fresh)

    async def place(request: OrderRequest) -> None:
        await exchange.place_order(request)

    limit = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "s-lim", Decimal("0.1"), Decimal(10000))
    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: feed(exchange, clock, BARS[2]),
        lambda: place(market("s-1", Side.BUY, "0.1")),
        lambda: exchange.set_leverage(BTC, 3),
        lambda: place(conditional("s-sl", Side.SELL, "10300")),
        lambda: place(conditional("s-tp", Side.SELL, "10500", OrderType.TAKE_PROFIT_MARKET)),
        lambda: place(limit),
        lambda: feed(exchange, clock, *BARS[3:6]),  # marks move, nothing triggers
        lambda: exchange.cancel_order(BTC, "s-lim"),
        lambda: exchange.settle_funding(BTC, Decimal("0.0001"), Decimal(10300)),
        lambda: feed(exchange, clock, *BARS[6:10]),  # the stop fills, the target expires
    ]
    await check()
    for step in steps:
        await step()
        await check()
    assert status(exchange, "s-sl") is OrderStatus.FILLED
    assert status(exchange, "s-tp") is OrderStatus.EXPIRED
    assert status(exchange, "s-lim") is OrderStatus.CANCELED


async def test_each_account_state_has_its_own_positions(clock: ManualClock) -> None:
    exchange = make(clock)
    await feed(exchange, clock, BARS[2])
    await exchange.place_order(market("p-1", Side.BUY, "0.1"))
    first = await exchange.account_state()
    first.positions.clear()  # a caller's own copy: the exchange's next answer is whole
    assert BTC in (await exchange.account_state()).positions


async def test_a_fill_without_fee_or_pnl_still_shows_in_the_balances(clock: ManualClock) -> None:
    exchange = PaperExchange(clock=clock, filters=FILTERS, balance=Decimal(10000), taker_fee=ZERO)
    await feed(exchange, clock, BARS[2])
    assert (await exchange.account_state()).positions == {}  # read (and kept) before the fill
    await exchange.place_order(market("z-1", Side.BUY, "0.1"))
    assert (await exchange.account_state()).margin_used == Decimal("1034.22")
    assert exchange.incomes() == []  # no wallet change: only the position moved
