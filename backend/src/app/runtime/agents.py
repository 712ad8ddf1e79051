"""Every account's agent under one supervisor, over one market data service and journal.

Live mode never falls back to replay: a live account whose exchange is unreachable at
startup does nothing and says why (:mod:`app.runtime.market_source` chooses the source).
Each account is built by :func:`~app.runtime.builder.build_account`; its loop recovers
before the first cycle.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.agent.locks import account_locks
from app.agent.supervisor import AgentSupervisor
from app.config import Settings
from app.core.clock import SystemClock
from app.core.types import AccountId
from app.db.session import SessionFactory
from app.exchange.http.client import AsterdexClient
from app.market_data.service import MarketDataService
from app.records.publishing import JournalPublisher
from app.records.sql_journal import SqlJournal
from app.runtime.builder import AccountRuntime, Closeable, Shared, build_account
from app.runtime.market_source import choose_market_source
from app.streaming.bus import EventBus

logger = logging.getLogger(__name__)


@dataclass
class AgentsRuntime:
    """What the agents need kept alive, closed by :meth:`aclose`."""

    supervisor: AgentSupervisor
    source_name: str
    shared: Shared
    accounts: dict[AccountId, AccountRuntime]

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
    """Build every account's agent under one supervisor.

    Each account comes from :func:`~app.runtime.builder.build_account`; the market source is
    AsterDEX or (``replay``, or AsterDEX unreachable) the recorded replay.

    ``bus`` receives the journal's events and closed candles; ``on_change`` is told the
    account whose journal changed (the HTTP layer's read cache listens there).

    Raises:
        ConfigError: An asset is unknown to the market data source.
    """
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=SystemClock(), timeout_s=5.0)
    clients: list[Closeable] = [public]
    chosen = await choose_market_source(settings, public, replay=replay)
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
    accounts = {account.id: await build_account(shared, account) for account in settings.accounts}
    supervisor = AgentSupervisor(
        {a: agent.managed for a, agent in accounts.items()},
        locks=account_locks(engine),
        controls=journal,
        market_source=source_name,
    )
    return AgentsRuntime(supervisor, source_name, shared, accounts)
