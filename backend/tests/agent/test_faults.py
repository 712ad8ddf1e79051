"""Faults that are not crashes, in live mode on the fake AsterDEX: a database that goes away,
an entry whose outcome is unknown, rate limits on protection, closes and reductions that
leave a position open. Protection never waits for the journal, the loop outlives every
transient fault, and a position's thesis lives as long as the position."""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.agent.failures import ProtectionPending
from app.agent.models import AgentEvent
from app.agent.supervisor import AgentState, AgentSupervisor, ManagedAgent
from app.core.clock import SystemClock
from app.core.errors import DatabaseError
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.errors import RateLimited
from app.records.sql_journal import SqlJournal
from app.trading.models import Decision
from tests.db import Database, proxied
from tests.fakes.asterdex import Fault
from tests.waiting import until

from .live import ACCOUNT, API_KEY, LiveRig, journal, leg, live_rig

pytestmark = pytest.mark.postgres
NEW_ORDER = "POST /fapi/v1/order"
QUERY_ORDER = "GET /fapi/v1/order"


async def drive[T](rig: LiveRig, work: Awaitable[T], step: timedelta = timedelta(seconds=1)) -> T:
    """Run ``work`` while moving the manual clock, so back-offs and rate limits pass."""
    task = asyncio.ensure_future(work)
    deadline = asyncio.get_running_loop().time() + 30
    while not task.done():
        if asyncio.get_running_loop().time() > deadline:
            task.cancel()
            raise AssertionError("the work did not finish while the clock moved")
        rig.clock.advance(step)
        await asyncio.sleep(0.01)
    return task.result()


def stops(rig: LiveRig, symbol: str = "BTCUSDT") -> list[Decimal | None]:
    """Stop prices of the working close-position stops on the position's exit side."""
    position = rig.account.positions[symbol]
    exit_side = "SELL" if position.amount > 0 else "BUY"
    return [
        o.stop_price
        for o in rig.account.open_orders(symbol)
        if o.type == "STOP_MARKET" and o.close_position and o.side == exit_side
    ]


def entries(rig: LiveRig) -> list[str]:
    return [o.client_order_id for o in rig.account.orders if o.type == "MARKET"]


async def events(sessions: SessionFactory, kind: str) -> list[AgentEvent]:
    async with session_scope(sessions) as session:
        return list(await session.scalars(select(AgentEvent).where(AgentEvent.type == kind)))


async def test_a_database_error_after_the_fill_does_not_delay_the_stop(pg: Database) -> None:
    async with proxied(pg) as (proxy, sessions), live_rig(sessions) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long(invalidation="close_1h < 1")
        # The entry is held a moment at the exchange; the database goes away meanwhile.
        rig.exchange.inject(Fault(NEW_ORDER, "latency", latency_s=0.3))
        cycle = asyncio.create_task(loop.tick())
        await until(lambda: len(entries(rig)) == 1, "the entry to reach the exchange")
        await proxy.cut()
        with pytest.raises((DatabaseError, OSError)):  # the outage, reported after protection
            await cycle

        assert rig.account.positions["BTCUSDT"].amount > 0
        assert stops(rig) == [stop]  # protected at once, not at the next candle
        assert loop.theses()["BTCUSDT"].stop_loss == stop  # the service's own thesis

        await proxy.restore()
        await loop.guard_pass()  # the backlog and the fills reach the journal

        orders, fills, _ = await journal(sessions)
        assert {o.purpose: o.status for o in orders} == {
            "entry": "FILLED",
            "stop_loss": "NEW",
            "take_profit": "NEW",
        }
        assert sum(f.quantity for f in fills) == rig.account.positions["BTCUSDT"].amount
        assert await events(sessions, "position.adopted") == []
        assert len(entries(rig)) == 1


async def test_the_loop_outlives_a_database_outage_and_decides_once_it_is_back(
    pg: Database,
) -> None:
    async with proxied(pg) as (proxy, sessions), live_rig(sessions) as rig:
        loop, _ = await rig.loop()
        rig.say()  # every asset holds
        await loop.tick()
        await rig.hour()
        rig.say()
        stop_event = asyncio.Event()
        await proxy.cut()  # the next candle's cycle finds the database gone
        runner = asyncio.create_task(loop.run(stop_event))
        async with pumping(rig):
            # Passes fail on the database and are retried within seconds of clock time,
            # each one looking after the account's protection first.
            await until(lambda: _requests_of(rig, "/openOrders") >= 3, "guard passes to repeat")
            assert not runner.done()
            assert len(rig.router.requests) == 1  # no decision without its market data

            await proxy.restore()
            await until(lambda: len(rig.router.requests) == 2, "the decision once it is back")
            await _poll_rows(sessions, Decision, 2)
        assert not runner.done()
        stop_event.set()
        await runner

        failed = await events(sessions, "cycle.failed")
        assert [e.severity for e in failed][:1] == ["warning"]


@asynccontextmanager
async def pumping(
    rig: LiveRig, step: timedelta = timedelta(milliseconds=250)
) -> AsyncIterator[None]:
    """Move the manual clock in the background, so the loop's back-offs pass."""

    async def pump() -> None:
        while True:
            rig.clock.advance(step)
            await asyncio.sleep(0.005)

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _requests_of(rig: LiveRig, suffix: str) -> int:
    return sum(1 for r in rig.exchange.requests if r.path.endswith(suffix))


async def _poll_rows(sessions: SessionFactory, model: type[Decision], count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        async with session_scope(sessions) as session:
            if len(list(await session.scalars(select(model)))) >= count:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} {model.__name__} rows")


async def test_an_entry_whose_outcome_is_unknown_gets_its_stop(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long()
        # The exchange fills the entry but the answer is garbage, and every lookup by
        # client id fails: the outcome stays unknown.
        rig.exchange.inject(Fault(NEW_ORDER, "malformed_body"))
        rig.exchange.inject(Fault(QUERY_ORDER, "http_503", times=3))
        await drive(rig, loop.tick())

        assert rig.account.positions["BTCUSDT"].amount > 0
        assert stops(rig) == [stop]
        assert len(entries(rig)) == 1
        orders, _, _ = await journal(pg.sessions)
        entry = next(o for o in orders if o.purpose == "entry")
        assert entry.status == "unknown"

        await loop.guard_pass()  # the next look resolves it by client id
        orders, fills, _ = await journal(pg.sessions)
        assert next(o for o in orders if o.purpose == "entry").status == "FILLED"
        assert fills


async def test_an_unknown_entry_that_never_filled_leaves_nothing_to_protect(
    pg: Database,
) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        rig.open_long()
        # Every order answers "send status unknown" and never lands; every lookup fails.
        rig.exchange.inject(Fault(NEW_ORDER, "http_503", times=-1))
        rig.exchange.inject(Fault(QUERY_ORDER, "http_503", times=-1))
        with pytest.raises(ProtectionPending):  # the stop's outcome is unknown too
            await drive(rig, loop.tick())
        rig.exchange.clear_faults()

        await loop.guard_pass()  # the exchange is back: nothing filled, nothing to protect

        assert entries(rig) == []
        assert (
            rig.account.positions.get("BTCUSDT") is None
            or not rig.account.positions["BTCUSDT"].amount
        )
        assert rig.account.open_orders("BTCUSDT") == []
        orders, _, events_ = await journal(pg.sessions)
        assert "unknown" not in {o.status for o in orders}
        assert not [e for e in events_ if e.type == "protection.missing"]


async def test_a_rate_limited_stop_is_waited_for_not_given_up(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long()
        # The entry passes; the stop right after it is answered 429 with a 10 s back-off.
        rig.exchange.inject(Fault(NEW_ORDER, "http_429", retry_after_s=10, after=1))
        await drive(rig, loop.tick())

        assert rig.account.positions["BTCUSDT"].amount > 0  # not closed for want of a stop
        assert stops(rig) == [stop]
        _, _, events_ = await journal(pg.sessions)
        assert not [e for e in events_ if e.type in ("protection.missing", "order.unknown")]


async def test_an_order_refused_during_a_ban_is_journaled_not_sent(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        rig.open_long()
        # A ban far longer than a protection order would wait: the entry is not sent.
        rig.exchange.inject(Fault(NEW_ORDER, "http_418", retry_after_s=3600))
        with pytest.raises(RateLimited):  # the loop waits the ban out before its next look
            await loop.tick()

        assert entries(rig) == []
        orders, _, events_ = await journal(pg.sessions)
        assert [(o.purpose, o.status) for o in orders] == [("entry", "not_sent")]
        assert not [e for e in events_ if e.type == "order.unknown"]
        assert [e for e in events_ if e.type == "order.not_sent"]


async def test_a_reduction_keeps_the_thesis_and_the_protection(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long(invalidation="close_1h < 1")
        await loop.tick()
        opened = loop.theses()["BTCUSDT"]

        await rig.hour()
        rig.say(leg("BTC", "reduce", size_usd=1000))
        await loop.tick()
        await rig.hour()
        rig.say()
        await loop.tick()

        position = rig.account.positions["BTCUSDT"]
        assert position.amount > 0
        kept = loop.theses()["BTCUSDT"]
        assert (kept.stop_loss, kept.take_profit, kept.text) == (
            opened.stop_loss,
            opened.take_profit,
            opened.text,
        )
        assert kept.condition is not None
        assert stops(rig) == [stop]
        _, _, events_ = await journal(pg.sessions)
        assert not [e for e in events_ if e.type == "position.adopted"]


async def test_a_close_that_cannot_go_out_keeps_the_thesis_and_the_stop(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long()
        await loop.tick()

        await rig.hour()
        rig.say(leg("BTC", "close"))
        rig.exchange.inject(Fault(NEW_ORDER, "http_418", retry_after_s=3600))
        with pytest.raises(RateLimited):  # the loop waits the ban out before its next look
            await loop.tick()
        rig.exchange.clear_faults()

        assert rig.account.positions["BTCUSDT"].amount > 0
        assert stops(rig) == [stop]
        assert loop.theses()["BTCUSDT"].stop_loss == stop
        await rig.hour()
        rig.say()
        await loop.tick()
        _, _, events_ = await journal(pg.sessions)
        assert not [e for e in events_ if e.type == "position.adopted"]


async def test_bad_credentials_stop_the_account_and_say_so(pg: Database) -> None:
    async with live_rig(pg.sessions) as rig:
        loop, _ = await rig.loop()
        rig.say()
        await loop.tick()
        rig.exchange.revoke_key(API_KEY)  # every signed request is refused from now on
        managed = ManagedAgent(TradingMode.LIVE, loop, "ready")
        supervisor = AgentSupervisor(
            {AccountId(ACCOUNT): managed}, controls=SqlJournal(pg.sessions)
        )
        await rig.hour()
        await supervisor.start()
        await until(lambda: managed.task is not None and managed.task.done(), "the stop")

        status = supervisor.account_status(AccountId(ACCOUNT))
        assert status.state is AgentState.STOPPED
        assert "ExchangeAuthError" in status.detail
        stopped = await events(pg.sessions, "agent.stopped")
        assert [e.severity for e in stopped] == ["critical"]
        await supervisor.aclose()


async def test_the_system_clock_never_wakes_before_its_deadline() -> None:
    clock = SystemClock()
    for delay_ms in (1, 5, 20, 20, 50):
        when = datetime.now(UTC) + timedelta(milliseconds=delay_ms)
        await clock.sleep_until(when)
        assert clock.now() >= when


async def test_a_restart_without_the_database_still_gives_every_position_a_stop(
    pg: Database,
) -> None:
    async with proxied(pg) as (proxy, sessions), live_rig(sessions) as rig:
        loop, live = await rig.loop()
        stop = rig.open_long()
        await loop.tick()
        for order in rig.account.open_orders("BTCUSDT"):  # as if killed before protection
            await live.cancel_order("BTCUSDT", order.client_order_id)
        restarted, _ = await rig.loop()  # a new process...
        await proxy.cut()  # ...that finds the database gone

        with pytest.raises(DatabaseError):
            await restarted.guard_pass()
        widest = stops(rig)
        assert len(widest) == 1
        assert widest[0] is not None
        assert widest[0] < stop  # the widest stop the limits allow, for now

        await proxy.restore()
        await restarted.guard_pass()  # recovery: the thesis is back, and its stop and target
        assert stops(rig) == [stop]
        assert {o.type for o in rig.account.open_orders("BTCUSDT")} == {
            "STOP_MARKET",
            "TAKE_PROFIT_MARKET",
        }
        assert restarted.theses()["BTCUSDT"].stop_loss == stop
        assert await events(sessions, "position.adopted") == []
