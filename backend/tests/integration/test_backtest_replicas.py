"""Backtests and replicas: a starting replica marks as failed only the runs a process that is
gone left behind, never a run another replica is going with (PostgreSQL advisory locks)."""

from datetime import UTC, datetime

import pytest

from app.agent.locks import replica_locks
from app.backtest import store
from app.backtest.jobs import BacktestJobs
from app.backtest.spec import BacktestSpec
from app.db.session import session_scope
from app.streaming.bus import EventBus
from app.trading.runs import new_run_id
from tests.data import CANDLES_DIR
from tests.db import Database
from tests.waiting import until_checked

pytestmark = pytest.mark.postgres
# A year of three assets: long enough to still be going when the other replica starts.
LONG = BacktestSpec(
    datetime(2025, 4, 27, tzinfo=UTC),
    datetime(2026, 4, 27, tzinfo=UTC),
    ("BTC", "ETH", "SOL"),
    data_dir=CANDLES_DIR,
    title="a long run",
)


async def status_of(pg: Database, run_id: str) -> tuple[str, str | None]:
    async with session_scope(pg.sessions) as session:
        row = await store.get_run(session, run_id)
    assert row is not None
    return row.status, row.error


async def abandoned_run(pg: Database) -> str:
    """A run recorded as going by a process that died (its row, no lock held)."""
    run_id = new_run_id("backtest")
    async with session_scope(pg.sessions) as session:
        await store.add_run(
            session,
            run_id,
            title="left behind",
            config={},
            status="running",
            created_at=datetime.now(UTC),
        )
    return run_id


async def test_a_starting_replica_fails_only_the_runs_nobody_is_going_with(pg: Database) -> None:
    bus = EventBus()
    first = BacktestJobs(pg.sessions, bus, locks=replica_locks(pg.engine))
    second = BacktestJobs(pg.sessions, bus, locks=replica_locks(pg.engine))
    left = await abandoned_run(pg)
    going = await first.submit(LONG)

    marked = await second.recover()  # the second replica starts while the first runs
    still_going = going in first.running
    during = await status_of(pg, going)
    await first.cancel(going)

    async def ended() -> bool:
        return (await status_of(pg, going))[0] != "running"

    await until_checked(ended, "the cancelled run's end", within=30)
    assert still_going, "the run ended before the other replica started: nothing was shown"
    assert marked == 1
    assert await status_of(pg, left) == (
        "failed",
        "interrupted: the service stopped during the run",
    )
    assert during == ("running", None)
    assert (await status_of(pg, going))[0] == "cancelled"  # its own end, not "failed"
    await first.aclose()
    await second.aclose()


async def test_without_replica_locks_every_recorded_run_is_left_behind(pg: Database) -> None:
    """One process per database (a SQLite file): what it did not start, nobody runs."""
    left = [await abandoned_run(pg), await abandoned_run(pg)]

    marked = await BacktestJobs(pg.sessions, EventBus()).recover()

    assert marked == 2
    assert [(await status_of(pg, run_id))[0] for run_id in left] == ["failed", "failed"]


async def test_a_running_replica_sweeps_up_the_runs_of_one_that_died(pg: Database) -> None:
    jobs = BacktestJobs(pg.sessions, EventBus(), locks=replica_locks(pg.engine))
    jobs.sweep(every_s=0.05)
    left = await abandoned_run(pg)  # after this replica started: only a sweep finds it

    async def failed() -> bool:
        return (await status_of(pg, left))[0] == "failed"

    await until_checked(failed, "the sweep to mark the abandoned run", within=10)
    await jobs.aclose()
