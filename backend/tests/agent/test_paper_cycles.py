"""The agent loop in paper mode on the bundled real candles: decisions, orders with
protection, fills and equity land in PostgreSQL, and every order stays inside the limits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.agent.journal import Journal
from app.agent.loop import AgentConfig, AgentLoop
from app.agent.models import AgentEvent
from app.core.types import AccountId, TradingMode
from app.db.session import session_scope
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.llm.guard import GuardedDecisionProvider
from app.llm.repository import DatabaseSpendLedger
from app.llm.rules import RulesDecisionProvider
from app.market_data.replay import ReplayMarketData
from app.market_data.service import MarketDataService
from app.trading.domain import RiskLimits
from app.trading.models import Decision, DecisionLeg, EquitySnapshot, Fill, Order
from app.trading.repository import sync_accounts
from tests.db import Database
from tests.fakes.clock import ManualClock

pytestmark = pytest.mark.postgres

START = datetime(2026, 3, 10, 0, 0, 30, tzinfo=UTC)
LIMITS = RiskLimits(
    max_position_usd=Decimal(4000), max_leverage=Decimal(3), max_total_exposure_usd=Decimal(9000)
)


async def count(db: Database, model: type) -> int:
    async with session_scope(db.sessions) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_three_hundred_paper_cycles_on_real_candles(pg: Database) -> None:
    clock = ManualClock(START)
    market = MarketDataService(
        ReplayMarketData(clock), pg.sessions, clock, intervals=("1h",), backfill_bars=250
    )
    symbols = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}
    for symbol in symbols.values():
        await market.backfill(symbol)
    async with session_scope(pg.sessions) as session:
        await sync_accounts(session, [(AccountId("paper"), TradingMode.PAPER)])
    exchange = PaperExchange(
        clock=clock, filters=OFFLINE_FILTERS, balance=Decimal(10_000), account="paper"
    )
    journal = Journal(pg.sessions)
    provider = GuardedDecisionProvider(
        None, RulesDecisionProvider(), clock=clock, spend=DatabaseSpendLedger(pg.sessions)
    )
    loop = AgentLoop(
        AgentConfig("paper", symbols, "1h", "1h", LIMITS),
        clock=clock,
        market=market,
        exchange=exchange,
        provider=provider,
        journal=journal,
    )

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
    state = await exchange.account_state()
    assert state.equity > 0
