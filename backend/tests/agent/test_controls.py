"""Operator control: pause, stop, cycle, kill switch (persisted across restarts).

The loops run on the in-memory journal, shared by a loop and its restart as a restarted process
finds its database; the kill switch also runs on PostgreSQL, where the halt a restart obeys is
the row the first process wrote.
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.agent.supervisor import AgentState, AgentSupervisor, AgentUnavailable, ManagedAgent
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.ports import Exchange
from app.records.memory_journal import MemoryJournal
from app.records.sql_journal import SqlJournal
from app.trading.models import Decision, Order
from tests.fakes.clock import ManualClock

from .factory import START, paper_loop

ACCOUNT = AccountId("paper")


async def decisions(sessions: SessionFactory | None, memory: MemoryJournal) -> int:
    """How many decisions are journaled (in the database given sessions, else in memory)."""
    if sessions is None:
        return len(memory.decisions)
    async with session_scope(sessions) as session:
        return int((await session.execute(select(func.count()).select_from(Decision))).scalar_one())


async def kill_orders(sessions: SessionFactory | None, memory: MemoryJournal) -> list[bool]:
    """Whether each journaled order the kill switch sent (``ta-kill-…``) was reduce-only."""
    if sessions is None:
        return [o.reduce_only for o in memory.orders if o.client_order_id.startswith("ta-kill-")]
    async with session_scope(sessions) as session:
        rows = await session.scalars(select(Order).where(Order.client_order_id.like("ta-kill-%")))
        return [o.reduce_only for o in rows]


async def supervisor_for(
    sessions: SessionFactory | None, memory: MemoryJournal, clock: ManualClock
) -> tuple[AgentSupervisor, Exchange]:
    """A supervisor of one paper loop, as a (re)started process builds it: on a new SQL journal
    over the database, or on the shared memory journal."""
    journal = SqlJournal(sessions) if sessions is not None else memory
    loop, exchange = await paper_loop(sessions, clock, ACCOUNT, journal=journal)
    supervisor = AgentSupervisor(
        {ACCOUNT: ManagedAgent(TradingMode.PAPER, loop, "ready")}, controls=journal
    )
    return supervisor, exchange


async def test_a_kill_switch_halts_cancels_flattens_and_survives_a_restart(
    store: SessionFactory | None,
) -> None:
    clock = ManualClock(START)
    memory = MemoryJournal()
    first, exchange = await supervisor_for(store, memory, clock)
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
    # The journal agrees at once: a halted account runs no pass that would catch up later,
    # and its open orders are what the API and the dashboard show.
    journal = SqlJournal(store) if store is not None else memory
    assert await journal.pending_orders(ACCOUNT) == []
    await first.aclose()

    assert killed.state is AgentState.HALTED
    assert "drill" in killed.detail

    restarted, _ = await supervisor_for(store, memory, clock)
    await restarted.start()
    status = restarted.account_status(ACCOUNT)
    decided = await decisions(store, memory)

    assert status.state is AgentState.HALTED  # persisted: no trading after a restart
    assert status.detail == "halted by an operator: drill"
    with pytest.raises(AgentUnavailable):
        await restarted.cycle(ACCOUNT)
    assert await decisions(store, memory) == decided

    released = await restarted.resume(ACCOUNT)
    assert released.state is AgentState.RUNNING
    await restarted.aclose()
    kills = await kill_orders(store, memory)
    assert kills
    assert all(kills)


async def test_theses_come_back_after_a_restart() -> None:
    clock = ManualClock(START)
    journal = MemoryJournal()
    loop, exchange = await paper_loop(None, clock, ACCOUNT, journal=journal)
    for _ in range(200):
        await loop.tick()
        clock.advance(timedelta(hours=1))
        if loop.theses():
            break
    before = loop.theses()
    assert before

    # A restart: a new loop over the same (persisted) paper state and journal.
    restarted, _ = await paper_loop(None, clock, ACCOUNT, exchange=exchange, journal=journal)
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


async def test_an_operators_close_leaves_no_open_order_in_the_journal() -> None:
    """Closed with no protection pass after it (a paused account runs none): its stops are gone
    from the journal at once, as from the exchange."""
    clock = ManualClock(START)
    journal = MemoryJournal()
    loop, exchange = await paper_loop(None, clock, ACCOUNT, journal=journal)
    for _ in range(200):  # trade until a position is open
        await loop.tick()
        clock.advance(timedelta(hours=1))
        if (await exchange.account_state()).positions:
            break
    held = list((await exchange.account_state()).positions)
    assert await journal.pending_orders(ACCOUNT)  # their protection, journaled

    for symbol in held:
        assert await loop.close_symbol(symbol, "closed by hand")
    assert (await exchange.account_state()).positions == {}
    assert await exchange.open_orders() == []
    assert await journal.pending_orders(ACCOUNT) == []
