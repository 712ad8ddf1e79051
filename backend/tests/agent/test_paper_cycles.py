"""The agent loop in paper mode on the bundled real candles: decisions, orders with
protection, fills and equity land in PostgreSQL, and every order stays inside the limits."""

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.agent.journal import SqlJournal
from app.agent.models import AgentEvent
from app.db.session import session_scope
from app.exchange.paper import PaperExchange
from app.exchange.types import OrderRequest, OrderType, Side
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.trading.models import Decision, DecisionLeg, EquitySnapshot, Fill, Order
from tests.db import Database
from tests.fakes.clock import ManualClock

from .factory import LIMITS, START, paper_loop

pytestmark = pytest.mark.postgres


async def count(db: Database, model: type) -> int:
    async with session_scope(db.sessions) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_three_hundred_paper_cycles_on_real_candles(pg: Database) -> None:
    clock = ManualClock(START)
    loop, exchange = await paper_loop(pg.sessions, clock)

    sent = 0
    for _ in range(300):
        outcome = await loop.tick()
        sent += outcome.orders_sent
        clock.advance(timedelta(hours=1))

    assert await count(pg, Decision) >= 290
    assert await count(pg, DecisionLeg) >= 3 * 290
    assert await count(pg, EquitySnapshot) == 300
    assert sent > 0
    async with session_scope(pg.sessions) as session:
        orders = list(await session.scalars(select(Order)))
        fills = list(await session.scalars(select(Fill)))
        events = list(await session.scalars(select(AgentEvent)))
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
    assert all(f.order_id is not None for f in fills)
    assert not [e for e in events if e.type == "protection.missing"]
    funding = [e for e in events if e.type == "funding"]
    invalidated = [e for e in events if e.type == "position.invalidated"]
    assert invalidated, "no invalidation condition ever held in 300 hours"
    closes = [o for o in orders if o.purpose == "close" and o.status == "FILLED"]
    assert len(closes) >= len(invalidated)  # each invalidation closed its position
    assert all(o.reduce_only for o in closes)
    assert funding, "no funding was settled on an open position in 300 hours"
    assert all(e.payload["symbol"] in {"BTCUSDT", "ETHUSDT", "SOLUSDT"} for e in funding)
    state = await exchange.account_state()
    assert state.equity > 0


async def test_a_liquidation_is_journaled_as_a_fill_without_an_order_and_an_alert(
    pg: Database,
) -> None:
    clock = ManualClock(START)
    loop, exchange = await paper_loop(pg.sessions, clock)
    assert isinstance(exchange, PaperExchange)
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

    async with session_scope(pg.sessions) as session:
        fills = list(await session.scalars(select(Fill).where(Fill.symbol == "BTCUSDT")))
        events = list(await session.scalars(select(AgentEvent)))
    # The hand-placed entry has no order row either; the liquidation is the SELL.
    liquidation = [f for f in fills if f.order_id is None and f.side == "SELL"]
    assert len(liquidation) == 1
    assert liquidation[0].quantity == Decimal("0.1")
    alerts = [e for e in events if e.type == "position.liquidated"]
    assert len(alerts) == 1
    assert alerts[0].severity == "critical"


async def test_a_daily_loss_halt_is_journaled_once_as_risk_halt(pg: Database) -> None:
    clock = ManualClock(START)
    loop, exchange = await paper_loop(pg.sessions, clock)
    await loop.tick()
    journal = SqlJournal(pg.sessions)
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

    async with session_scope(pg.sessions) as session:
        halts = list(
            await session.scalars(select(AgentEvent).where(AgentEvent.type == "risk.halt"))
        )
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


async def test_funding_is_charged_at_the_mark_of_the_funding_time(pg: Database) -> None:
    clock = ManualClock(START)
    loop, exchange = await paper_loop(pg.sessions, clock)
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
    async with session_scope(pg.sessions) as session:
        events = list(await session.scalars(select(AgentEvent).where(AgentEvent.type == "funding")))
    (paid,) = [e for e in events if e.payload["symbol"] == "BTCUSDT"]
    assert held != 0
    assert Decimal(str(paid.payload["amount"])) == (-held * mark * rate).quantize(
        Decimal("0.00000001")
    )
