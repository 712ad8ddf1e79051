"""An agent loop on the bundled real candles, a paper exchange and the rules provider.

Without database sessions the loop runs on its in-memory ports (journal and market view):
what backtests run on, and what most loop tests need. With sessions it runs on the SQL
journal and candle store, end to end.
"""

from datetime import UTC, datetime
from decimal import Decimal

from app.agent.loop import AgentConfig, AgentLoop
from app.agent.ports import Journal
from app.core.clock import Clock
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.exchange.ports import Exchange
from app.llm.guard import GuardedDecisionProvider, SpendLedger
from app.llm.repository import DatabaseSpendLedger
from app.llm.rules import RulesDecisionProvider
from app.market_data.replay import ReplayMarketData
from app.market_data.service import MarketDataService
from app.records.memory_journal import MemoryJournal
from app.records.sql_journal import SqlJournal
from app.trading.domain import RiskLimits
from app.trading.repository import sync_accounts

START = datetime(2026, 3, 10, 0, 0, 30, tzinfo=UTC)
LIMITS = RiskLimits(
    max_position_usd=Decimal(4000), max_leverage=Decimal(3), max_total_exposure_usd=Decimal(9000)
)
SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}


async def paper_loop(
    sessions: SessionFactory | None,
    clock: Clock,
    account: str = "paper",
    exchange: Exchange | None = None,
    journal: Journal | None = None,
) -> tuple[AgentLoop, Exchange]:
    """A paper loop on the SQL ports (``sessions``) or in memory (None, or a given journal)."""
    loop, exchange, _journal = await paper_loop_with_journal(
        sessions, clock, account, exchange, journal
    )
    return loop, exchange


async def paper_loop_with_journal(
    sessions: SessionFactory | None,
    clock: Clock,
    account: str = "paper",
    exchange: Exchange | None = None,
    journal: Journal | None = None,
) -> tuple[AgentLoop, Exchange, Journal]:
    """:func:`paper_loop`, and the journal it writes to."""
    market = MarketDataService(
        ReplayMarketData(clock), sessions, clock, intervals=("1h",), backfill_bars=250
    )
    for symbol in SYMBOLS.values():
        await market.backfill(symbol)
    spend: SpendLedger
    if sessions is not None:
        async with session_scope(sessions) as session:
            await sync_accounts(session, [(AccountId(account), TradingMode.PAPER)])
        journal = journal or SqlJournal(sessions)
        spend = DatabaseSpendLedger(sessions)
    else:
        memory = journal if isinstance(journal, MemoryJournal) else MemoryJournal()
        journal, spend = journal or memory, memory
    exchange = exchange or PaperExchange(
        clock=clock, filters=OFFLINE_FILTERS, balance=Decimal(10_000), account=account
    )
    provider = GuardedDecisionProvider(None, RulesDecisionProvider(), clock=clock, spend=spend)
    loop = AgentLoop(
        AgentConfig(account, SYMBOLS, "1h", "1h", LIMITS),
        clock=clock,
        market=market,
        exchange=exchange,
        provider=provider,
        journal=journal,
    )
    return loop, exchange, journal
