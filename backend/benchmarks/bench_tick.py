"""One paper tick of the agent loop: in-memory ports, and the PostgreSQL journal.

The loop trades 3 assets (BTC, ETH, SOL) on the real candles of ``backend/tests/candles``
with the rules provider, ``INTERVAL=1h`` and ``LONG_INTERVAL=4h``, on a paper exchange and a
simulated clock (a tick never waits for the wall clock). Each tick is timed alone; the clock
moves one hour between ticks, outside the timing.

- ``memory``: in-memory journal and candle store (what backtests run on);
  goal: median <= 3 ms per tick.
- ``postgres``: the SQL journal and candle store on a throw-away PostgreSQL database;
  goal: median <= 20 ms per tick.

The baseline, measured in the same run, is the decision logic alone: the rules provider's
``decide`` on the same contexts (timed inside every tick). ``outside_decision_share`` is the
share of a tick spent elsewhere (market view, risk engine, exchange, journal). The replay
throughput is closed 1h candles processed per second with in-memory ports, over every tick.
"""

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import asyncpg
from sqlalchemy.engine import make_url

from app.agent.loop import AgentConfig, AgentLoop
from app.agent.ports import Journal
from app.core.clock import SimulatedClock
from app.core.types import AccountId, TradingMode
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import SessionFactory, create_session_factory, session_scope
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.llm.context import DecisionContext
from app.llm.ports import DecisionOutcome
from app.llm.rules import RulesDecisionProvider
from app.market_data.replay import ReplayMarketData
from app.market_data.service import MarketDataService
from app.records.memory_journal import MemoryJournal
from app.records.sql_journal import SqlJournal
from app.trading.domain import RiskLimits
from app.trading.repository import sync_accounts
from benchmarks.candles import CANDLES_DIR
from benchmarks.timing import machine, median, rounded

ADMIN_URL: Final = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SYMBOLS: Final = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}
START: Final = datetime(2025, 12, 1, 0, 0, 5, tzinfo=UTC)  # 5 s of grace after the close
WARMUP: Final = 10
TICKS: Final = 300  # 300 hours: entries, stops, invalidations and funding all happen
LIMITS: Final = RiskLimits(
    max_position_usd=Decimal(4000), max_leverage=Decimal(3), max_total_exposure_usd=Decimal(9000)
)
GOALS_MS: Final = {"memory": 3.0, "postgres": 20.0}


class TimedRules:
    """The rules provider, timing every decision (the baseline)."""

    def __init__(self) -> None:
        self._rules = RulesDecisionProvider()
        self.name = self._rules.name
        self.times: list[float] = []

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """Decide with the rules; remember how long it took."""
        start = time.perf_counter()
        outcome = await self._rules.decide(context)
        self.times.append(time.perf_counter() - start)
        return outcome


async def _loop(
    journal: Journal, sessions: SessionFactory | None
) -> tuple[AgentLoop, SimulatedClock, TimedRules]:
    clock = SimulatedClock(START)
    market = MarketDataService(
        ReplayMarketData(clock, CANDLES_DIR), sessions, clock, intervals=("1h", "4h")
    )
    for symbol in SYMBOLS.values():
        await market.backfill(symbol)
    provider = TimedRules()
    loop = AgentLoop(
        AgentConfig("bench", SYMBOLS, "1h", "4h", LIMITS),
        clock=clock,
        market=market,
        exchange=PaperExchange(
            clock=clock, filters=OFFLINE_FILTERS, balance=Decimal(10_000), account="bench"
        ),
        provider=provider,
        journal=journal,
    )
    return loop, clock, provider


async def measure(journal: Journal, sessions: SessionFactory | None) -> dict[str, Any]:
    """Time ``TICKS`` ticks (after ``WARMUP``) on one journal; the per-tick report."""
    loop, clock, provider = await _loop(journal, sessions)
    for _ in range(WARMUP):
        await loop.tick()
        clock.advance(timedelta(hours=1))
    provider.times.clear()
    times: list[float] = []
    orders = 0
    for _ in range(TICKS):
        start = time.perf_counter()
        outcome = await loop.tick()
        times.append(time.perf_counter() - start)
        orders += outcome.orders_sent
        clock.advance(timedelta(hours=1))
    ordered = sorted(times)
    decide = median(provider.times)
    tick = median(times)
    return {
        "ticks": TICKS,
        "orders_sent": orders,
        "median_ms": rounded(tick * 1000),
        "p99_ms": rounded(ordered[int(len(ordered) * 0.99) - 1] * 1000),
        "decision_median_ms": rounded(decide * 1000),
        "ratio_to_decision": rounded(tick / decide) if decide else None,
        "outside_decision_share": rounded(1 - sum(provider.times) / sum(times)),
        "candles_per_s": rounded(TICKS * len(SYMBOLS) / sum(times)),
    }


async def _postgres() -> dict[str, Any]:
    admin_url = make_url(ADMIN_URL)
    name = f"ta_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=admin_url.host,
        port=admin_url.port,
        user=admin_url.username,
        password=admin_url.password,
        database=admin_url.database,
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        engine = create_engine(
            admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        )
        try:
            await upgrade_to_head(engine)
            sessions = create_session_factory(engine)
            async with session_scope(sessions) as session:
                await sync_accounts(session, [(AccountId("bench"), TradingMode.PAPER)])
            return await measure(SqlJournal(sessions), sessions)
        finally:
            await engine.dispose()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run() -> dict[str, Any]:
    """Measure both journals and return the report."""
    runs = {"memory": await measure(MemoryJournal(), None), "postgres": await _postgres()}
    met = all(runs[kind]["median_ms"] <= goal for kind, goal in GOALS_MS.items())
    return {
        "benchmark": "tick",
        "assets": len(SYMBOLS),
        "intervals": ["1h", "4h"],
        "provider": "rules",
        "memory": runs["memory"],
        "postgres": runs["postgres"],
        "replay_candles_per_s": runs["memory"]["candles_per_s"],
        "goal": {"memory_median_ms": GOALS_MS["memory"], "postgres_median_ms": 20.0},
        "met": met,
        "machine": machine(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run())))
