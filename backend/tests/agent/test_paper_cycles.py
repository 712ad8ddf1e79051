"""The agent loop in paper mode on the bundled real candles: decisions, orders with
protection, fills and equity reach the journal, and every order stays inside the limits.

The loop runs on its in-memory ports (as backtests do); one test runs the same cycles end
to end on PostgreSQL and checks the rows there.
"""

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.agent.loop import AgentLoop
from app.db.session import session_scope
from app.exchange.paper import PaperExchange
from app.exchange.types import OrderRequest, OrderType, Side
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.records.memory_journal import MemoryJournal
from app.trading.models import Decision, DecisionLeg, EquitySnapshot, Fill, Order
from tests.db import Database
from tests.fakes.clock import ManualClock

from .factory import LIMITS, START, paper_loop


async def memory_loop(clock: ManualClock) -> tuple[AgentLoop, PaperExchange, MemoryJournal]:
    journal = MemoryJournal()
    loop, exchange = await paper_loop(None, clock, journal=journal)
    assert isinstance(exchange, PaperExchange)
    return loop, exchange, journal


async def test_three_hundred_paper_cycles_on_real_candles() -> None:
    clock = ManualClock(START)
    journal = MemoryJournal()
    loop, exchange = await paper_loop(None, clock, journal=journal)

    sent = 0
    for _ in range(300):
        outcome = await loop.tick()
        sent += outcome.orders_sent
        clock.advance(timedelta(hours=1))

    assert len(journal.decisions) >= 290
    assert sum(len(d.legs) for d in journal.decisions) >= 3 * 290
    assert len(journal.equity) == 300
    assert sent > 0
    orders, fills, events = journal.orders, journal.fill_records, journal.events
    entries = [o for o in orders if o.purpose == "entry" and o.status == "FILLED"]
    stops = {o.client_order_id.removesuffix("-sl") for o in orders if o.purpose == "stop_loss"}
    assert entries, "the rules found no entry in 300 hours of real data"
    for entry in entries:
        assert entry.client_order_id.rsplit("-", 1)[0] in stops  # every entry was protected
        assert entry.average_price is not None
        assert entry.filled_quantity * entry.average_price <= LIMITS.max_position_usd * Decimal(
            "1.01"
        )  # slippage on the fill
    assert fills
    assert all(f.order_client_id is not None for f in fills)
    assert not [e for e in events if e.kind == "protection.missing"]
    funding = [e for e in events if e.kind == "funding"]
    invalidated = [e for e in events if e.kind == "position.invalidated"]
    assert invalidated, "no invalidation condition ever held in 300 hours"
    closes = [o for o in orders if o.purpose == "close" and o.status == "FILLED"]
    assert len(closes) >= len(invalidated)  # each invalidation closed its position
    assert all(o.reduce_only for o in closes)
    assert funding, "no funding was settled on an open position in 300 hours"
    assert all(e.payload["symbol"] in {"BTCUSDT", "ETHUSDT", "SOLUSDT"} for e in funding)
    # Every record carries the clock's time, never the wall clock's.
    end = START + timedelta(hours=300)
    assert all(START <= d.created_at <= end for d in journal.decisions)
    assert all(START <= e.occurred_at <= end for e in events)
    state = await exchange.account_state()
    assert state.equity > 0


async def count(db: Database, model: type) -> int:
    async with session_scope(db.sessions) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.postgres
async def test_paper_cycles_end_to_end_on_postgresql(pg: Database) -> None:
    """The same loop on the SQL journal and candle store: the rows land, linked."""
    clock = ManualClock(START)
    loop, _exchange = await paper_loop(pg.sessions, clock)

    sent = 0
    for _ in range(72):
        outcome = await loop.tick()
        sent += outcome.orders_sent
        clock.advance(timedelta(hours=1))

    assert await count(pg, Decision) >= 70
    assert await count(pg, DecisionLeg) >= 3 * 70
    assert await count(pg, EquitySnapshot) == 72
    assert sent > 0
    async with session_scope(pg.sessions) as session:
        orders = list(await session.scalars(select(Order)))
        fills = list(await session.scalars(select(Fill)))
    entries = [o for o in orders if o.purpose == "entry" and o.status == "FILLED"]
    stops = {o.client_order_id.removesuffix("-sl") for o in orders if o.purpose == "stop_loss"}
    assert entries
    assert all(e.client_order_id.rsplit("-", 1)[0] in stops for e in entries)
    assert fills
    assert all(f.order_id is not None for f in fills)


async def test_a_liquidation_is_journaled_as_a_fill_without_an_order_and_an_alert() -> None:
    clock = ManualClock(START)
    loop, exchange, journal = await memory_loop(clock)
    await loop.tick()
    await exchange.set_leverage("BTCUSDT", 50)
    await exchange.place_order(
        OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-by-hand-1", quantity=Decimal("0.1"))
    )
    entry = (await exchange.account_state()).positions["BTCUSDT"].entry_price
    exchange.set_price("BTCUSDT", entry * Decimal("0.95"))  # 5 % down at 50x: liquidated
    assert "BTCUSDT" not in (await exchange.account_state()).positions

    clock.advance(timedelta(hours=1))
    await loop.tick()

    fills = [f for f in journal.fill_records if f.symbol == "BTCUSDT"]
    # The hand-placed entry has no order row either; the liquidation is the SELL.
    liquidation = [f for f in fills if f.order_client_id is None and f.side == "SELL"]
    assert len(liquidation) == 1
    assert liquidation[0].quantity == Decimal("0.1")
    alerts = [e for e in journal.events if e.kind == "position.liquidated"]
    assert len(alerts) == 1
    assert alerts[0].severity == "critical"


async def test_a_daily_loss_halt_is_journaled_once_as_risk_halt() -> None:
    clock = ManualClock(START)
    loop, exchange, journal = await memory_loop(clock)
    await loop.tick()
    risk = await journal.risk_state("paper")
    assert risk is not None
    equity = (await exchange.account_state()).equity
    # The day started with twice today's equity: a 50 % loss, far past MAX_DAILY_LOSS.
    await journal.save_risk_state(
        "paper", replace(risk, day_start_equity=equity * 2), at=clock.now()
    )

    for _ in range(2):
        clock.advance(timedelta(hours=1))
        await loop.tick()

    halts = [e for e in journal.events if e.kind == "risk.halt"]
    assert len(halts) == 1
    assert halts[0].severity == "critical"
    assert "halted" in halts[0].message


def funding_rates(symbol: str) -> list[tuple[datetime, Decimal]]:
    """The recorded funding of ``symbol``: (funding time, rate)."""
    with (SAMPLE_DIR / f"{symbol}-funding.csv").open(newline="") as handle:
        return [
            (
                datetime.fromtimestamp(int(r["funding_time_ms"]) / 1000, UTC),
                Decimal(r["funding_rate"]),
            )
            for r in csv.DictReader(handle)
        ]


async def test_funding_is_charged_at_the_mark_of_the_funding_time() -> None:
    clock = ManualClock(START)
    loop, exchange, journal = await memory_loop(clock)
    await loop.tick()
    await exchange.place_order(
        OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "ta-by-hand-1", quantity=Decimal("0.1"))
    )
    funding_time = START.replace(hour=8, second=0)  # funding every 8 hours from midnight
    while clock.now() + timedelta(hours=1) < funding_time:
        clock.advance(timedelta(hours=1))
        await loop.tick()
    held = (await exchange.account_state()).positions["BTCUSDT"].amount

    clock.advance(timedelta(hours=1))  # the first cycle past the funding time
    await loop.tick()

    replay = ReplayMarketData(clock)
    (last_hour,) = await replay.candles(
        "BTCUSDT",
        "1h",
        start=funding_time - timedelta(hours=1),
        end=funding_time - timedelta(hours=1),
    )
    mark = last_hour.close  # the replay's mark is the close of the last closed candle
    rate = dict(funding_rates("BTCUSDT"))[funding_time]
    (paid,) = [
        e for e in journal.events if e.kind == "funding" and e.payload["symbol"] == "BTCUSDT"
    ]
    assert held != 0
    assert Decimal(str(paid.payload["amount"])) == (-held * mark * rate).quantize(
        Decimal("0.00000001")
    )
