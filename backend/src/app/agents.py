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

from app.agent.journal import Journal
from app.agent.locks import account_locks
from app.agent.publishing import JournalPublisher
from app.agent.supervisor import AgentSupervisor
from app.config import Settings
from app.core.clock import Clock, ReplayClock, SystemClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS, AccountId
from app.db.session import SessionFactory
from app.exchange.errors import ExchangeError
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import AsterdexClient
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.ports import MarketDataSource
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.market_data.service import MarketDataService
from app.streaming.bus import EventBus
from app.wiring import AccountAgent, Closeable, Shared, wire_account

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
    clock: Clock = SystemClock()
    source: MarketDataSource
    filters: dict[str, SymbolFilters] | None = None
    until: datetime | None = None
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=clock, timeout_s=5.0)
    clients: list[Closeable] = [public]
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
    publisher = JournalPublisher(bus, on_change=on_change) if bus is not None else None
    journal = Journal(sessions, publisher)
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
