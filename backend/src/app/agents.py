"""Composition of the agents: market data, exchange, decision provider and loop per account.

Paper mode runs on live AsterDEX market data when the exchange answers, otherwise (and with
``--replay``) on the replay source, saying so loudly. Live mode never falls back to replay;
live loops stay off until crash recovery and the protection guardian's reconciliation are
in place (the agent runtime issue), and the service says so at startup.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.agent.journal import Journal
from app.agent.locks import PostgresAccountLocks
from app.agent.loop import AgentConfig, AgentLoop
from app.agent.supervisor import AgentSupervisor, ManagedAgent
from app.config import AccountSettings, Settings
from app.core.clock import Clock, ReplayClock, SystemClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS, AccountId, TradingMode
from app.db.session import SessionFactory
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.errors import ExchangeError
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import AsterdexClient
from app.exchange.paper import PaperExchange
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.guard import GuardedDecisionProvider
from app.llm.http import OpenRouterClient
from app.llm.provider import LlmDecisionProvider
from app.llm.repository import DatabaseSpendLedger
from app.llm.rules import RulesDecisionProvider
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.ports import MarketDataSource
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.market_data.service import MarketDataService
from app.market_data.symbols import UnknownAssetError
from app.trading.domain import RiskLimits

logger = logging.getLogger(__name__)


@dataclass
class AgentsRuntime:
    """What the agents need kept alive, closed by :meth:`aclose`."""

    supervisor: AgentSupervisor
    source_name: str
    clients: list[AsterdexClient | OpenRouterClient]

    async def aclose(self) -> None:
        """Stop the loops, then close the HTTP clients."""
        await self.supervisor.aclose()
        for client in self.clients:
            await client.aclose()


async def build_agents(
    settings: Settings, engine: AsyncEngine, sessions: SessionFactory, *, replay: bool
) -> AgentsRuntime:
    """Wire one loop per account.

    Raises:
        ConfigError: An asset is unknown to the market data source.
    """
    clients: list[AsterdexClient | OpenRouterClient] = []
    clock: Clock = SystemClock()
    source: MarketDataSource
    filters: dict[str, SymbolFilters] | None = None
    until: datetime | None = None
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=clock, timeout_s=5.0)
    clients.append(public)
    if not replay and await _reachable(public):
        source, source_name = ExchangeMarketData(public), "AsterDEX market data"
        filters = await public.exchange_info()
    else:
        if not replay:
            logger.warning(
                "AsterDEX is unreachable: PAPER MODE RUNS ON THE RECORDED REPLAY, NOT LIVE PRICES"
            )
        data_dir = Path(settings.replay_data_dir) if settings.replay_data_dir else SAMPLE_DIR
        probe = ReplayMarketData(SystemClock(), data_dir)
        start, until = await _replay_window(probe, settings)
        clock = ReplayClock(start, settings.replay_speed)
        source, source_name = ReplayMarketData(clock, data_dir), f"replay of {data_dir}"
        logger.warning(
            "replaying recorded candles from %s at %dx speed", start, settings.replay_speed
        )
    market = MarketDataService(
        source,
        sessions,
        clock,
        intervals=settings.market_data.intervals,
        backfill_bars=settings.backfill_bars,
        max_mark_deviation=settings.market_data.max_mark_deviation,
    )
    journal = Journal(sessions)
    agents: dict[AccountId, ManagedAgent] = {}
    for account in settings.accounts:
        agents[account.id] = await _agent(
            settings, account, market, journal, clock, filters, until, sessions, clients
        )
    locks = PostgresAccountLocks(engine) if engine.dialect.name == "postgresql" else None
    supervisor = AgentSupervisor(agents, locks=locks, controls=journal, market_source=source_name)
    return AgentsRuntime(supervisor, source_name, clients)


async def _reachable(client: AsterdexClient) -> bool:
    try:
        await asyncio.wait_for(client.ping(), 6.0)
    except (ExchangeError, TimeoutError) as exc:
        logger.warning("AsterDEX did not answer (%s)", exc)
        return False
    return True


async def _replay_window(probe: ReplayMarketData, settings: Settings) -> tuple[datetime, datetime]:
    """Start after enough history for the indicators; stop at the end of the recording."""
    far_past = datetime(2000, 1, 1, tzinfo=UTC)
    symbols = sorted(await probe.symbols())
    first = await probe.candles(symbols[0], settings.interval, start=far_past)
    if not first:
        raise ConfigError([f"REPLAY_DATA_DIR: no {settings.interval} candles to replay"])
    longest = max(KLINE_INTERVALS_MS[i] for i in settings.market_data.intervals)
    warmup = timedelta(milliseconds=longest) * (settings.backfill_bars + 1)
    start = first[0].open_time + warmup
    end = first[-1].close_time
    if start >= end:
        raise ConfigError(
            [f"BACKFILL_BARS: the recording is too short for {settings.backfill_bars} bars"]
        )
    return start, end


def risk_limits(settings: Settings, account: AccountSettings) -> RiskLimits:
    """The risk engine's limits for ``account`` (per-account values over the globals)."""
    total = settings.max_total_exposure_usd or account.max_position_size_usd * 3
    return RiskLimits(
        max_position_usd=account.max_position_size_usd,
        max_leverage=account.leverage,
        max_total_exposure_usd=total,
        max_daily_loss=settings.max_daily_loss_pct / 100,
        max_loss_per_trade=settings.max_loss_per_trade_pct / 100,
        min_stop_atr=settings.min_stop_atr,
        max_stop_distance=settings.max_stop_distance_pct / 100,
        min_hold_bars=settings.min_hold_bars,
        allow_pyramiding=settings.allow_pyramiding,
        stop_cooldown_bars=settings.stop_cooldown_bars,
    )


async def _agent(
    settings: Settings,
    account: AccountSettings,
    market: MarketDataService,
    journal: Journal,
    clock: Clock,
    filters: dict[str, SymbolFilters] | None,
    until: datetime | None,
    sessions: SessionFactory,
    clients: list[AsterdexClient | OpenRouterClient],
) -> ManagedAgent:
    if account.trading_mode is TradingMode.LIVE:
        detail = (
            "live trading is not enabled yet: it waits for crash recovery and exchange "
            "reconciliation; this account does nothing"
        )
        logger.warning("account %s: %s", account.id, detail)
        return ManagedAgent(TradingMode.LIVE, None, detail)
    try:
        symbols = await market.resolve_assets(account.assets)
    except UnknownAssetError as exc:
        raise ConfigError([f"ASSETS: {exc}"]) from exc
    for symbol in symbols.values():
        await market.backfill(symbol)
    rule_filters = filters or OFFLINE_FILTERS
    saved = await journal.paper_state(account.id)
    known = {s: rule_filters[s] for s in symbols.values() if s in rule_filters}
    exchange = (
        PaperExchange.restore(
            saved,
            clock=clock,
            filters=known,
            balance=settings.paper_balance_usd,
            account=account.id,
        )
        if saved
        else PaperExchange(
            clock=clock, filters=known, balance=settings.paper_balance_usd, account=account.id
        )
    )
    provider = GuardedDecisionProvider(
        _llm(settings, account, clients),
        RulesDecisionProvider(),
        clock=clock,
        spend=DatabaseSpendLedger(sessions),
        daily_budget_usd=settings.llm_daily_budget_usd,
        alert=lambda kind, message: journal.event(account.id, kind, message, severity="critical"),
    )
    config = AgentConfig(
        account_id=account.id,
        symbols=symbols,
        interval=settings.interval,
        long_interval=settings.long_interval,
        limits=risk_limits(settings, account),
    )
    loop = AgentLoop(
        config, clock=clock, market=market, exchange=exchange, provider=provider, journal=journal
    )

    async def checkpoint() -> None:
        await journal.save_paper_state(account.id, exchange.snapshot())

    return ManagedAgent(TradingMode.PAPER, loop, "ready", after_tick=checkpoint, until=until)


def _llm(
    settings: Settings, account: AccountSettings, clients: list[AsterdexClient | OpenRouterClient]
) -> LlmDecisionProvider | None:
    if account.openrouter_api_key is None:
        return None
    client = OpenRouterClient(
        base_url=settings.llm.base_url,
        api_key=account.openrouter_api_key,
        timeout_s=settings.llm_timeout_s,
    )
    clients.append(client)
    return LlmDecisionProvider(
        client,
        model=account.llm_model,
        features=feature_names(IndicatorConfig()),
        fallback_models=settings.llm_fallback_models,
        max_tokens=settings.llm_max_tokens,
    )
