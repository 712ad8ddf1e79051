"""Operator control: pause, stop, cycle, kill switch (persisted across restarts)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.agent.supervisor import AgentState, AgentSupervisor, AgentUnavailable, ManagedAgent
from app.core.types import AccountId, TradingMode
from app.db.session import session_scope
from app.exchange.ports import Exchange
from app.records.sql_journal import SqlJournal
from app.trading.models import Decision, Order
from tests.db import Database
from tests.fakes.clock import ManualClock

from .factory import START, paper_loop

pytestmark = pytest.mark.postgres
ACCOUNT = AccountId("paper")


async def count(db: Database, model: type) -> int:
    async with session_scope(db.sessions) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def supervisor_for(db: Database, clock: ManualClock) -> tuple[AgentSupervisor, Exchange]:
    loop, exchange = await paper_loop(db.sessions, clock, ACCOUNT)
    supervisor = AgentSupervisor(
        {ACCOUNT: ManagedAgent(TradingMode.PAPER, loop, "ready")}, controls=SqlJournal(db.sessions)
    )
    return supervisor, exchange


async def test_a_kill_switch_halts_cancels_flattens_and_survives_a_restart(pg: Database) -> None:
    clock = ManualClock(START)
    first, exchange = await supervisor_for(pg, clock)
    await first.hold(ACCOUNT, AgentState.PAUSED, "test")
    with pytest.raises(AgentUnavailable):
        await first.cycle(ACCOUNT)
    await first.resume(ACCOUNT)
    for _ in range(200):  # trade until a position is open
        await first.cycle(ACCOUNT)
        clock.advance(timedelta(hours=1))
        if (await exchange.account_state()).positions:
            break
    assert (await exchange.account_state()).positions
    assert await exchange.open_orders()  # its protection
    killed = await first.kill(ACCOUNT, flatten=True, reason="drill")
    assert (await exchange.account_state()).positions == {}
    assert await exchange.open_orders() == []
    await first.aclose()

    assert killed.state is AgentState.HALTED
    assert "drill" in killed.detail

    restarted, _ = await supervisor_for(pg, clock)
    await restarted.start()
    status = restarted.account_status(ACCOUNT)
    decisions = await count(pg, Decision)

    assert status.state is AgentState.HALTED  # persisted: no trading after a restart
    assert status.detail == "halted by an operator: drill"
    with pytest.raises(AgentUnavailable):
        await restarted.cycle(ACCOUNT)
    assert await count(pg, Decision) == decisions

    released = await restarted.resume(ACCOUNT)
    assert released.state is AgentState.RUNNING
    await restarted.aclose()
    async with session_scope(pg.sessions) as session:
        kills = list(
            await session.scalars(select(Order).where(Order.client_order_id.like("ta-kill-%")))
        )
    assert kills
    assert all(o.reduce_only for o in kills)


async def test_theses_come_back_after_a_restart(pg: Database) -> None:
    clock = ManualClock(START)
    loop, exchange = await paper_loop(pg.sessions, clock, ACCOUNT)
    for _ in range(200):
        await loop.tick()
        clock.advance(timedelta(hours=1))
        if loop.theses():
            break
    before = loop.theses()
    assert before

    # A restart: a new loop over the same (persisted) paper state and journal.
    restarted, _ = await paper_loop(pg.sessions, clock, ACCOUNT, exchange=exchange)
    await restarted.recover()
    after = restarted.theses()

    assert set(after) == set(before)
    for symbol, thesis in before.items():
        restored = after[symbol]
        assert restored.stop_loss == thesis.stop_loss
        assert restored.take_profit == thesis.take_profit
        old = thesis.condition.canonical if thesis.condition is not None else None
        new = restored.condition.canonical if restored.condition is not None else None
        assert new == old
