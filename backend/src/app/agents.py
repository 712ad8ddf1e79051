"""Composition of the agents: market data, exchange, decision provider and loop per account.

Paper mode runs on live AsterDEX market data when the exchange answers, otherwise (and with
``--replay``) on the replay source, saying so loudly. Live mode never falls back to replay:
a live account whose exchange is unreachable at startup does nothing and says why. A live
account trades through :class:`~app.exchange.live.LiveExchange` (its own keys, HMAC or V3,
and its user-data stream); its loop recovers before the first cycle.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.agent.journal import SqlJournal
from app.agent.locks import account_locks
from app.agent.publishing import JournalPublisher
from app.agent.supervisor import AgentSupervisor
from app.config import Settings
from app.core.clock import Clock, ReplayClock, SystemClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS, AccountId, TradingMode
from app.db.session import SessionFactory
from app.exchange.errors import ExchangeError
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import AsterdexClient
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.ports import MarketDataSource
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.market_data.service import MarketDataService
from app.market_data.symbols import UnknownAssetError, resolve_assets
from app.streaming.bus import EventBus
from app.wiring import AccountAgent, Closeable, Shared, asset_variable, wire_account

logger = logging.getLogger(__name__)


@dataclass
class AgentsRuntime:
    """What the agents need kept alive, closed by :meth:`aclose`."""

    supervisor: AgentSupervisor
    source_name: str
    shared: Shared
    accounts: dict[AccountId, AccountAgent]

    @property
    def clients(self) -> list[Closeable]:
        """HTTP clients and streams to close at shutdown, in closing order."""
        return self.shared.clients

    async def aclose(self) -> None:
        """Stop the loops, then close the HTTP clients."""
        await self.supervisor.aclose()
        for client in self.clients:
            await client.aclose()


async def build_agents(
    settings: Settings,
    engine: AsyncEngine,
    sessions: SessionFactory,
    *,
    replay: bool,
    bus: EventBus | None = None,
    on_change: Callable[[str], None] | None = None,
) -> AgentsRuntime:
    """Wire one loop per account.

    Raises:
        ConfigError: An asset is unknown to the market data source.
    """
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=SystemClock(), timeout_s=5.0)
    clients: list[Closeable] = [public]
    chosen = await _market_source(settings, public, replay=replay)
    source, source_name, clock = chosen.source, chosen.name, chosen.clock
    filters, until = chosen.filters, chosen.until
    if chosen.replay_start is not None:
        logger.warning(
            "replaying recorded candles from %s at %dx speed",
            chosen.replay_start,
            settings.replay_speed,
        )
    market = MarketDataService(
        source,
        sessions,
        clock,
        intervals=settings.market_data.intervals,
        backfill_bars=settings.backfill_bars,
        max_mark_deviation=settings.market_data.max_mark_deviation,
    )
    publisher = JournalPublisher(bus, on_change=on_change) if bus is not None else None
    journal = SqlJournal(sessions, publisher)
    if bus is not None:
        market.on_closed = lambda candle: bus.publish(
            f"market.{candle.symbol}.{candle.interval}",
            "candle.closed",
            asdict(candle),
            at=candle.close_time,
        )
    shared = Shared(settings, market, journal, clock, sessions, filters, until, clients)
    accounts = {account.id: await wire_account(shared, account) for account in settings.accounts}
    supervisor = AgentSupervisor(
        {a: agent.managed for a, agent in accounts.items()},
        locks=account_locks(engine),
        controls=journal,
        market_source=source_name,
    )
    return AgentsRuntime(supervisor, source_name, shared, accounts)


async def check_market(settings: Settings, *, replay: bool) -> str:
    """Run the checks startup makes against the market data, without a database.

    The same source is chosen as at startup (AsterDEX when it answers, else the replay), the
    replay recording must cover the backfill, and every account that would run must trade
    assets the source lists (a live account with AsterDEX unreachable waits, as at startup).

    Returns:
        The market data source's name.

    Raises:
        ConfigError: One ``VARIABLE: problem`` line per refusal startup would make.
    """
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=SystemClock(), timeout_s=5.0)
    try:
        chosen = await _market_source(settings, public, replay=replay)
        known = await chosen.source.symbols()
    finally:
        await public.aclose()
    problems: list[str] = []
    for account in settings.accounts:
        if account.trading_mode is TradingMode.LIVE and chosen.filters is None:
            continue
        try:
            resolve_assets(account.assets, known)
        except UnknownAssetError as exc:
            problems.append(f"{asset_variable(settings, account)}: {exc}")
    if problems:
        raise ConfigError(problems)
    return chosen.name


@dataclass(frozen=True, slots=True)
class _Market:
    """The market data source startup chose, and what comes with it."""

    source: MarketDataSource
    name: str
    clock: Clock
    filters: dict[str, SymbolFilters] | None  # AsterDEX's exchangeInfo; None on a replay
    until: datetime | None = None  # a replay ends with its recording
    replay_start: datetime | None = None


async def _market_source(settings: Settings, public: AsterdexClient, *, replay: bool) -> _Market:
    """AsterDEX when it answers (and not ``replay``), else the recorded replay.

    Raises:
        ConfigError: The replay recording has no candles, or too few for the backfill.
    """
    if not replay and await _reachable(public):
        filters = await public.exchange_info()
        return _Market(ExchangeMarketData(public), "AsterDEX market data", SystemClock(), filters)
    if not replay:
        logger.warning(
            "AsterDEX is unreachable: PAPER MODE RUNS ON THE RECORDED REPLAY, NOT LIVE PRICES"
        )
    data_dir = Path(settings.replay_data_dir) if settings.replay_data_dir else SAMPLE_DIR
    probe = ReplayMarketData(SystemClock(), data_dir)
    start, until = await _replay_window(probe, settings)
    clock = ReplayClock(start, settings.replay_speed)
    source = ReplayMarketData(clock, data_dir)
    return _Market(source, f"replay of {data_dir}", clock, None, until, start)


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
    if not symbols:
        where = settings.replay_data_dir
        raise ConfigError([f"REPLAY_DATA_DIR: no <SYMBOL>-<interval>.csv recordings in {where}"])
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
