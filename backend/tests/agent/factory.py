"""An agent loop on the bundled real candles, a paper exchange and the rules provider."""

from datetime import UTC, datetime
from decimal import Decimal

from app.agent.journal import SqlJournal
from app.agent.loop import AgentConfig, AgentLoop
from app.core.clock import Clock
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.exchange.ports import Exchange
from app.llm.guard import GuardedDecisionProvider
from app.llm.repository import DatabaseSpendLedger
from app.llm.rules import RulesDecisionProvider
from app.market_data.replay import ReplayMarketData
from app.market_data.service import MarketDataService
from app.trading.domain import RiskLimits
from app.trading.repository import sync_accounts

START = datetime(2026, 3, 10, 0, 0, 30, tzinfo=UTC)
LIMITS = RiskLimits(
    max_position_usd=Decimal(4000), max_leverage=Decimal(3), max_total_exposure_usd=Decimal(9000)
)
SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}


async def paper_loop(
    sessions: SessionFactory,
    clock: Clock,
    account: str = "paper",
    exchange: Exchange | None = None,
) -> tuple[AgentLoop, Exchange]:
    market = MarketDataService(
        ReplayMarketData(clock), sessions, clock, intervals=("1h",), backfill_bars=250
    )
    for symbol in SYMBOLS.values():
        await market.backfill(symbol)
    async with session_scope(sessions) as session:
        await sync_accounts(session, [(AccountId(account), TradingMode.PAPER)])
    exchange = exchange or PaperExchange(
        clock=clock, filters=OFFLINE_FILTERS, balance=Decimal(10_000), account=account
    )
    provider = GuardedDecisionProvider(
        None, RulesDecisionProvider(), clock=clock, spend=DatabaseSpendLedger(sessions)
    )
    loop = AgentLoop(
        AgentConfig(account, SYMBOLS, "1h", "1h", LIMITS),
        clock=clock,
        market=market,
        exchange=exchange,
        provider=provider,
        journal=SqlJournal(sessions),
    )
    return loop, exchange
