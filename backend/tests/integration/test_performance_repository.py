"""Performance queries on PostgreSQL (``date_bin`` in SQL) and on the SQLite fallback."""

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent.models import AgentEvent
from app.config._values import normalise_database_url
from app.core.types import AccountId, TradingMode
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import create_session_factory, session_scope
from app.llm.models import LlmCall
from app.records import performance_queries as repo
from app.trading.models import Decision, EquitySnapshot, Fill
from app.trading.performance import EquityPoint
from app.trading.repository import sync_accounts

from .conftest import Database

pytestmark = pytest.mark.postgres

ACCOUNT = "alpha"
OTHER = "beta"
DAY = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(minutes=10)
HOUR = timedelta(hours=1)
D = Decimal


def equity_at(i: int) -> Decimal:
    """Equity of the i-th snapshot of the day: distinct, so a wrong pick shows."""
    return D(1000) + D(i) + D("0.125")


def snapshot(account: str, i: int) -> EquitySnapshot:
    return EquitySnapshot(
        account_id=account,
        taken_at=DAY + i * STEP,
        equity=equity_at(i) if account == ACCOUNT else D(1),
        wallet_balance=D(1000),
        available_balance=D(900),
        unrealized_pnl=D(i) / 10,
        margin_used=D(100),
    )


def fill(account: str, n: int, at: datetime, pnl: str, fee: str) -> Fill:
    return Fill(
        account_id=account,
        symbol="BTCUSDT",
        trade_id=f"t{n}",
        side="SELL",
        price=D(60000),
        quantity=D("0.01"),
        fee=D(fee),
        fee_asset="USDT",
        realized_pnl=D(pnl),
        is_maker=False,
        filled_at=at,
        created_at=at,
    )


def event(account: str, kind: str, at: datetime, amount: object) -> AgentEvent:
    return AgentEvent(
        account_id=account,
        type=kind,
        severity="info",
        message=kind,
        payload={"symbol": "BTCUSDT", "rate": "0.0001", "amount": amount},
        occurred_at=at,
    )


def llm_call(account: str, at: datetime, cost: str | None) -> LlmCall:
    return LlmCall(
        account_id=account,
        provider="openrouter",
        model="m",
        prompt="p",
        prompt_hash="h",
        cost_usd=None if cost is None else D(cost),
        status="ok",
        created_at=at,
    )


def decision(account: str, at: datetime) -> Decision:
    return Decision(
        id=uuid.uuid4(), account_id=account, provider="rules", status="executed", created_at=at
    )


async def seed(session: AsyncSession) -> None:
    """A day of snapshots every 10 minutes (inserted shuffled) and activity for two accounts."""
    await sync_accounts(
        session, [(AccountId(ACCOUNT), TradingMode.PAPER), (AccountId(OTHER), TradingMode.PAPER)]
    )
    rows = [snapshot(account, i) for account in (ACCOUNT, OTHER) for i in range(144)]
    random.Random(7).shuffle(rows)
    session.add_all(rows)
    later = DAY + timedelta(days=2)
    session.add_all(
        [
            fill(ACCOUNT, 1, DAY + HOUR, "0", "0.6"),  # opening fill: fee, no trade
            fill(ACCOUNT, 2, DAY + 2 * HOUR, "12.5", "0.6"),
            fill(ACCOUNT, 3, DAY + 3 * HOUR, "-4", "0.3"),
            fill(ACCOUNT, 4, DAY + 20 * HOUR, "8", "0.2"),
            fill(ACCOUNT, 5, later, "100", "9"),  # outside the day
            fill(OTHER, 6, DAY + HOUR, "-50", "5"),
            event(ACCOUNT, "funding", DAY + 8 * HOUR, "-0.5"),
            event(ACCOUNT, "funding", DAY + 16 * HOUR, "0.125"),
            event(ACCOUNT, "funding", DAY + 17 * HOUR, "garbage"),  # skipped, logged
            event(ACCOUNT, "funding", later, "-7"),
            event(ACCOUNT, "order_sent", DAY + 9 * HOUR, "3"),
            event(OTHER, "funding", DAY + 8 * HOUR, "-2"),
            llm_call(ACCOUNT, DAY + HOUR, "0.01"),
            llm_call(ACCOUNT, DAY + 2 * HOUR, "0.02"),
            llm_call(ACCOUNT, DAY + 3 * HOUR, None),
            llm_call(ACCOUNT, later, "1"),
            llm_call(OTHER, DAY + HOUR, "5"),
            decision(ACCOUNT, DAY + HOUR),
            decision(ACCOUNT, DAY + 2 * HOUR),
            decision(ACCOUNT, DAY + 3 * HOUR),
            decision(ACCOUNT, later),
            decision(OTHER, DAY + HOUR),
        ]
    )
    await session.flush()


def last_per_bucket(bucket: timedelta) -> list[EquityPoint]:
    """Expected curve over the whole day: the last of the 10-minute snapshots per bucket."""
    per_bucket = bucket // STEP
    indexes = range(per_bucket - 1, 144, per_bucket)
    return [EquityPoint(at=DAY + i * STEP, equity=equity_at(i)) for i in indexes]


@pytest.fixture
async def seeded(pg: Database) -> Database:
    async with session_scope(pg.sessions) as session:
        await seed(session)
    return pg


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    url = normalise_database_url(f"sqlite:///{tmp_path / 'performance.db'}")
    engine = create_engine(url)
    await upgrade_to_head(engine)
    database = Database(url, engine, create_session_factory(engine))
    async with session_scope(database.sessions) as session:
        await seed(session)
    yield database
    await engine.dispose()


async def curve(
    db: Database,
    bucket: timedelta,
    start: datetime | None = None,
    end: datetime | None = None,
    account: str = ACCOUNT,
) -> list[EquityPoint]:
    async with session_scope(db.sessions) as session:
        return await repo.equity_curve(session, account, bucket=bucket, start=start, end=end)


@pytest.mark.parametrize("bucket", [HOUR, 4 * HOUR], ids=["1h", "4h"])
async def test_the_curve_keeps_the_last_snapshot_of_each_bucket(
    seeded: Database, bucket: timedelta
) -> None:
    points = await curve(seeded, bucket)

    assert points == last_per_bucket(bucket)
    assert len(points) == timedelta(days=1) // bucket
    first = bucket - STEP  # 00:50 for hourly buckets, 03:50 for 4-hour ones
    assert points[0] == EquityPoint(at=DAY + first, equity=equity_at(first // STEP))


async def test_buckets_align_to_the_origin_not_to_the_first_snapshot(seeded: Database) -> None:
    # 3-hour buckets from 2000-01-01 fall on 00:00, 03:00, ... of every day since.
    points = await curve(seeded, 3 * HOUR, start=DAY + timedelta(hours=1, minutes=30))

    assert [p.at.hour for p in points] == [2, 5, 8, 11, 14, 17, 20, 23]
    assert all(p.at.minute == 50 for p in points)


async def test_the_range_includes_start_and_leaves_out_end(seeded: Database) -> None:
    points = await curve(
        seeded, HOUR, start=DAY + timedelta(hours=1, minutes=50), end=DAY + 5 * HOUR
    )

    assert [p.at - DAY for p in points] == [
        timedelta(hours=1, minutes=50),  # the start itself
        timedelta(hours=2, minutes=50),
        timedelta(hours=3, minutes=50),
        timedelta(hours=4, minutes=50),  # not the 05:00 snapshot at the end
    ]
    assert points[-1].equity == equity_at(29)


async def test_start_equal_to_end_is_an_empty_range(seeded: Database) -> None:
    # A snapshot, a fill, a decision and an LLM call all lie at 02:00: none is in [02:00, 02:00).
    at = DAY + 2 * HOUR
    async with session_scope(seeded.sessions) as session:
        inputs = await repo.performance_inputs(session, ACCOUNT, start=at, end=at)

    assert await curve(seeded, timedelta(seconds=1), start=at, end=at) == []
    assert inputs == repo.PerformanceInputs(
        realized=[],
        trips=[],
        fees=D(0),
        funding=D(0),
        unrealized=D(0),
        llm_cost=D(0),
        decisions=0,
    )


async def test_an_account_without_snapshots_has_an_empty_curve(seeded: Database) -> None:
    assert await curve(seeded, HOUR, account="nobody") == []
    assert await curve(seeded, HOUR, start=DAY + timedelta(days=5)) == []


async def test_a_range_too_long_for_the_bucket_is_refused_before_querying(seeded: Database) -> None:
    with pytest.raises(repo.TooManyPoints, match="wider bucket"):
        await curve(seeded, timedelta(seconds=1), start=DAY, end=DAY + HOUR * 2)


async def test_a_range_of_exactly_max_points_buckets_is_answered(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [00:00, 03:00) touches the 00:00, 01:00 and 02:00 buckets, not the one starting at end.
    monkeypatch.setattr(repo, "MAX_POINTS", 3)
    assert len(await curve(seeded, HOUR, start=DAY, end=DAY + 3 * HOUR)) == 3
    # Unaligned bounds touch one bucket more: 00:30 .. 03:30 reaches into the 03:00 bucket.
    with pytest.raises(repo.TooManyPoints):
        await curve(seeded, HOUR, start=DAY + HOUR / 2, end=DAY + 3.5 * HOUR)


async def test_an_open_range_with_too_many_buckets_is_refused(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repo, "MAX_POINTS", 144)
    assert len(await curve(seeded, STEP)) == 144

    monkeypatch.setattr(repo, "MAX_POINTS", 143)
    with pytest.raises(repo.TooManyPoints):
        await curve(seeded, STEP)


@pytest.mark.parametrize(
    ("bucket", "start", "end"),
    [(timedelta(0), None, None), (HOUR, DAY + HOUR, DAY)],
    ids=["empty-bucket", "reversed-range"],
)
async def test_bad_arguments(
    seeded: Database, bucket: timedelta, start: datetime | None, end: datetime | None
) -> None:
    with pytest.raises(ValueError, match="must"):
        await curve(seeded, bucket, start, end)


async def test_inputs_over_the_day(seeded: Database) -> None:
    async with session_scope(seeded.sessions) as session:
        inputs = await repo.performance_inputs(
            session, ACCOUNT, start=DAY, end=DAY + timedelta(hours=23, minutes=59)
        )

    assert inputs == repo.PerformanceInputs(
        realized=[D("12.5"), D(-4), D(8)],
        trips=[],  # the seeded sells only ever grow one short
        fees=D("1.7"),
        funding=D("-0.375"),
        unrealized=D("14.3"),  # the 23:50 snapshot
        llm_cost=D("0.03"),
        decisions=3,
    )


async def test_inputs_narrowed_and_unbounded(seeded: Database) -> None:
    async with session_scope(seeded.sessions) as session:
        morning = await repo.performance_inputs(
            session, ACCOUNT, start=DAY + 90 * timedelta(minutes=1), end=DAY + 3 * HOUR
        )
        everything = await repo.performance_inputs(session, ACCOUNT, start=None, end=None)
        nobody = await repo.performance_inputs(session, "nobody", start=None, end=None)

    # The fill, LLM call, decision and snapshot at 03:00, the end, are left out.
    assert (morning.realized, morning.fees, morning.funding) == ([D("12.5")], D("0.6"), D(0))
    assert (morning.llm_cost, morning.decisions, morning.unrealized) == (D("0.02"), 1, D("1.7"))
    assert everything.realized == [D("12.5"), D(-4), D(8), D(100)]
    assert (everything.fees, everything.funding) == (D("10.7"), D("-7.375"))
    assert (everything.llm_cost, everything.decisions) == (D("1.03"), 4)
    assert nobody == repo.PerformanceInputs(
        realized=[],
        trips=[],
        fees=D(0),
        funding=D(0),
        unrealized=D(0),
        llm_cost=D(0),
        decisions=0,
    )


@pytest.mark.parametrize("bucket", [HOUR, 4 * HOUR, timedelta(minutes=25)], ids=str)
async def test_sqlite_buckets_in_python_like_postgres_in_sql(
    seeded: Database, sqlite: Database, bucket: timedelta
) -> None:
    start, end = DAY + timedelta(minutes=35), DAY + timedelta(hours=19, minutes=10)

    on_sqlite = await curve(sqlite, bucket, start, end)

    assert on_sqlite == await curve(seeded, bucket, start, end)
    assert await curve(sqlite, bucket) == await curve(seeded, bucket)
    if bucket in (HOUR, 4 * HOUR):
        assert await curve(sqlite, bucket) == last_per_bucket(bucket)


async def test_sqlite_inputs_match_postgres(seeded: Database, sqlite: Database) -> None:
    async with session_scope(sqlite.sessions) as lite, session_scope(seeded.sessions) as pg:
        for start, end in [(None, None), (DAY, DAY + 12 * HOUR)]:
            assert await repo.performance_inputs(
                lite, ACCOUNT, start=start, end=end
            ) == await repo.performance_inputs(pg, ACCOUNT, start=start, end=end)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_trades_are_round_trips_net_of_fees_closed_in_range(
    seeded: Database, sqlite: Database, backend: str
) -> None:
    db = seeded if backend == "postgresql" else sqlite
    trades = [
        ("BUY", "0.02", "0", "1", DAY - 2 * HOUR),  # a trip closed before the range
        ("SELL", "0.02", "5", "1", DAY - HOUR),
        ("BUY", "0.02", "0", "1", DAY - HOUR / 2),  # opened before the range ...
        ("SELL", "0.01", "3", "0.5", DAY + HOUR),
        ("SELL", "0.01", "-1", "0.5", DAY + 2 * HOUR),  # ... flat in range: 3 - 1 - 2 of fees
        ("SELL", "0.01", "0", "0.25", DAY + 3 * HOUR),  # a short still open
    ]
    async with session_scope(db.sessions) as session:
        await sync_accounts(session, [(AccountId("gamma"), TradingMode.PAPER)])
        for n, (side, quantity, pnl, fee, at) in enumerate(trades):
            row = fill("gamma", 100 + n, at, pnl, fee)
            row.side, row.quantity = side, D(quantity)
            session.add(row)
    async with session_scope(db.sessions) as session:
        day = await repo.performance_inputs(session, "gamma", start=DAY, end=DAY + 23 * HOUR)
        ever = await repo.performance_inputs(session, "gamma", start=None, end=None)

    assert day.trips == [D(0)]
    assert day.realized == [D(3), D(-1)]  # the fills' own figure stays per fill, before fees
    assert ever.trips == [D(3), D(0)]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_fills_of_one_time_follow_the_trade_ids_sequence_past_9(
    seeded: Database, sqlite: Database, backend: str
) -> None:
    """A stop and the next entry fill in one cycle, at one clock time, as paper-9 and paper-10:
    the stop ends the first trip and the entry opens the second (as text, paper-10 would sort
    first, growing the long, and the stop would close nothing)."""
    db = seeded if backend == "postgresql" else sqlite
    trades = [
        ("paper-8", "BUY", "0.01", "0", "0.1", DAY + HOUR),  # entry
        ("paper-9", "SELL", "0.01", "-2", "0.1", DAY + 2 * HOUR),  # stopped out ...
        ("paper-10", "BUY", "0.01", "0", "0.1", DAY + 2 * HOUR),  # ... and in again, same cycle
        ("paper-11", "SELL", "0.01", "5", "0.1", DAY + 3 * HOUR),  # target
    ]
    async with session_scope(db.sessions) as session:
        await sync_accounts(session, [(AccountId("delta"), TradingMode.PAPER)])
        for n, (trade_id, side, quantity, pnl, fee, at) in enumerate(trades):
            row = fill("delta", 200 + n, at, pnl, fee)
            row.trade_id, row.side, row.quantity = trade_id, side, D(quantity)
            session.add(row)
    async with session_scope(db.sessions) as session:
        inputs = await repo.performance_inputs(session, "delta", start=None, end=None)

    assert inputs.trips == [D("-2.2"), D("4.8")]
