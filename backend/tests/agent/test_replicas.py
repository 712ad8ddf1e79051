"""Two replicas on one PostgreSQL never trade the same account; one account's failure never
stops another."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.agent.locks import PostgresAccountLocks, lock_key
from app.agent.models import AgentEvent
from app.agent.supervisor import AgentState, AgentSupervisor, ManagedAgent
from app.config._values import normalise_database_url
from app.core.types import AccountId, TradingMode
from app.db.engine import create_engine
from app.db.session import create_session_factory, session_scope
from app.trading.models import Decision
from tests.db import Database
from tests.fakes.clock import ManualClock
from tests.fakes.tcp_proxy import TcpProxy
from tests.waiting import until

from .factory import START, paper_loop

pytestmark = pytest.mark.postgres
ACCOUNT = AccountId("shared")


async def decisions(db: Database) -> int:
    async with session_scope(db.sessions) as session:
        return int((await session.execute(select(func.count()).select_from(Decision))).scalar_one())


async def eventually(check: Callable[[], Awaitable[bool] | bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def one_decision_per(db: Database, expected: int) -> bool:
    return await decisions(db) == expected


async def test_only_one_replica_trades_an_account_and_the_other_takes_over(pg: Database) -> None:
    replicas = []
    for _ in range(2):
        engine = create_engine(normalise_database_url(pg.url))
        loop, _ = await paper_loop(create_session_factory(engine), ManualClock(START), ACCOUNT)
        supervisor = AgentSupervisor(
            {ACCOUNT: ManagedAgent(TradingMode.PAPER, loop, "ready")},
            locks=PostgresAccountLocks(engine),
            standby_retry_s=0.2,
        )
        replicas.append((engine, supervisor))
    first, second = replicas[0][1], replicas[1][1]
    try:
        await first.start()
        await eventually(lambda: one_decision_per(pg, 1))  # replica one holds the lock and ticked
        await second.start()
        await eventually(lambda: second.status()[0].state is AgentState.PAUSED)
        await asyncio.sleep(0.5)

        assert first.status()[0].state is AgentState.RUNNING
        assert "another replica" in second.status()[0].detail
        assert await decisions(pg) == 1  # only the lock holder ticked

        await first.aclose()  # replica one goes away: its lock is released
        await eventually(lambda: one_decision_per(pg, 2))
        assert second.status()[0].state is AgentState.RUNNING
    finally:
        for engine, supervisor in replicas:
            await supervisor.aclose()
            await engine.dispose()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("alice") == lock_key("alice")
    assert lock_key("alice") != lock_key("bob")
    assert -(2**63) <= lock_key("alice") < 2**63


class ExplodingExchange:
    """An exchange whose every call fails with an unexpected error (not an ExchangeError)."""

    def __getattr__(self, name: str) -> object:
        async def explode(*args: object, **kwargs: object) -> None:
            raise RuntimeError("exchange exploded")

        return explode


async def test_one_accounts_failure_never_stops_another(pg: Database) -> None:
    clock = ManualClock(START)
    healthy, _ = await paper_loop(pg.sessions, clock, "healthy")
    broken, _ = await paper_loop(
        pg.sessions, clock, "broken", exchange=ExplodingExchange()  # type: ignore[arg-type]
    )
    supervisor = AgentSupervisor(
        {
            AccountId("healthy"): ManagedAgent(TradingMode.PAPER, healthy, "ready"),
            AccountId("broken"): ManagedAgent(TradingMode.PAPER, broken, "ready"),
        }
    )
    try:
        await supervisor.start()
        await eventually(lambda: supervisor.status()[1].state is AgentState.STOPPED)
        await asyncio.sleep(0.3)
        states = {s.account_id: s for s in supervisor.status()}

        assert states[AccountId("broken")].detail.startswith("stopped on error: RuntimeError")
        assert states[AccountId("healthy")].state is AgentState.RUNNING
        assert await decisions(pg) == 1  # the healthy account decided
    finally:
        await supervisor.aclose()


async def test_a_database_outage_neither_stops_the_agent_nor_keeps_it_from_its_lock(
    pg: Database,
) -> None:
    """The lock lives in the database: losing it to an outage means waiting, not stopping."""
    async with TcpProxy("127.0.0.1", make_url(pg.url).port or 5432) as proxy:
        engine = create_engine(normalise_database_url(proxy.url_for(pg.url)))
        clock = ManualClock(START)
        loop, _ = await paper_loop(create_session_factory(engine), clock, ACCOUNT)
        supervisor = AgentSupervisor(
            {ACCOUNT: ManagedAgent(TradingMode.PAPER, loop, "ready")},
            locks=PostgresAccountLocks(engine),
            standby_retry_s=0.2,
        )
        try:
            await proxy.cut()  # down before the agent even takes its lock
            await supervisor.start()
            await until(lambda: "database" in supervisor.status()[0].detail, "the wait")
            await proxy.restore()
            await eventually(lambda: one_decision_per(pg, 1))

            await proxy.cut()  # down again, between two cycles: the lock's connection dies
            clock.advance(timedelta(hours=1))
            pumped = asyncio.create_task(_pump(clock))
            try:
                await until(lambda: clock.now() > START + timedelta(hours=1, seconds=20), "time")
                assert supervisor.status()[0].state is AgentState.RUNNING
                await proxy.restore()
                await eventually(lambda: one_decision_per(pg, 2))
            finally:
                pumped.cancel()
                await asyncio.gather(pumped, return_exceptions=True)
            await until(lambda: supervisor.status()[0].detail == "running", "the lock again")
            assert supervisor.status()[0].state is AgentState.RUNNING
        finally:
            await supervisor.aclose()
            await engine.dispose()
        async with session_scope(pg.sessions) as session:
            stopped = await session.scalars(
                select(AgentEvent).where(AgentEvent.type == "agent.stopped")
            )
            assert list(stopped) == []


async def _pump(clock: ManualClock) -> None:
    """Move the manual clock along, so the loop's retries come due."""
    while True:
        clock.advance(timedelta(milliseconds=250))
        await asyncio.sleep(0.005)
