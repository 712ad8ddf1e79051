"""Run scope: a backtest's records never mix with the account's, even under the same account id.

One full set of records is journaled for account ``alpha`` in the account run and again, with
the same trade ids, snapshot times and symbols, in run ``backtest-1``; every account read
(queries, performance inputs, LLM spend, the journal's own reads) must see its run's only.
The migration must put rows written before runs existed in the account run, and going back
must drop the other runs' rows rather than hand them to the account.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BindParameter, Date, Uuid, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError

from app.config._values import normalise_database_url
from app.core.types import AccountId, TradingMode
from app.db.base import UtcDateTime
from app.db.engine import create_engine
from app.db.migrate import BACKEND_DIR, upgrade_to_head
from app.db.paging import PageRequest
from app.db.session import create_session_factory, session_scope
from app.exchange.ports import AccountState, Execution, PositionState
from app.exchange.types import ExchangeOrder, OrderRequest, OrderStatus, OrderType, Side
from app.llm.parsing import ParsedDecision, ParsedLeg
from app.llm.ports import DecisionOutcome, LlmCallRecord
from app.llm.repository import DatabaseSpendLedger, spent_on
from app.records import performance_queries as performance
from app.records import queries
from app.records.sql_journal import SqlJournal
from app.trading.domain import Action, LegStatus, LegVerdict, OrderPlan, Proposal, RiskState
from app.trading.models import EquitySnapshot, Fill, Order
from app.trading.repository import load_risk_state, sync_accounts
from app.trading.runs import ACCOUNT_RUN, new_run_id
from tests.db import Database

ALPHA = "alpha"
BACKTEST = "backtest-1"
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
D = Decimal


@dataclass(frozen=True)
class Run:
    """What one run journaled, so each read can be checked against its own run's values."""

    run_id: str
    journal: SqlJournal
    decision_id: uuid.UUID
    client_ids: tuple[str, str]  # (filled entry, order still in flight)
    equity: Decimal
    cost: Decimal
    funding: Decimal
    pnl: Decimal
    day_start: Decimal
    paper: dict[str, str]
    control: str


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, SQLite and then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with account ``alpha``."""
    engine = create_engine(normalise_database_url(database_url))
    await upgrade_to_head(engine)
    database = Database(database_url, engine, create_session_factory(engine))
    async with session_scope(database.sessions) as session:
        await sync_accounts(session, [(AccountId(ALPHA), TradingMode.PAPER)])
    yield database
    await engine.dispose()


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def outcome(cost: Decimal) -> DecisionOutcome:
    proposal = Proposal("BTCUSDT", Action.OPEN_LONG, D(1000), D(2), D(60000), D(70000))
    leg = ParsedLeg(proposal, 0.7, "breakout", None, "below 60k")
    call = LlmCallRecord(
        provider="openrouter",
        model="model-a",
        prompt="prompt",
        prompt_hash="ab" * 32,
        raw_reply="{}",
        status="ok",
        started_at=at(0),
        latency_ms=900,
        prompt_tokens=100,
        completion_tokens=50,
        cost_usd=cost,
    )
    return DecisionOutcome(
        provider="openrouter",
        model="model-a",
        prompt_version="v7",
        decision=ParsedDecision((leg,), "go long"),
        calls=(call,),
    )


def verdict() -> LegVerdict:
    proposal = Proposal("BTCUSDT", Action.OPEN_LONG, D(1000), D(2), D(60000), D(70000))
    return LegVerdict(
        proposal,
        LegStatus.APPROVED,
        orders=(OrderPlan("BTCUSDT", Side.BUY, D("0.015"), False, "entry"),),
        leverage=2,
        stop_loss=D(60000),
        take_profit=D(70000),
        notional_usd=D(1000),
    )


def filled(client_id: str) -> ExchangeOrder:
    return ExchangeOrder(
        symbol="BTCUSDT",
        order_id=1,
        client_order_id=client_id,
        side=Side.BUY,
        type="MARKET",
        status=OrderStatus.FILLED,
        orig_qty=D("0.015"),
        executed_qty=D("0.015"),
        price=D(0),
        avg_price=D(65000),
        stop_price=D(0),
        reduce_only=False,
        close_position=False,
        working_type=None,
        update_time=at(1),
    )


def execution(client_id: str, trade_id: str, minutes: int, pnl: Decimal) -> Execution:
    return Execution(
        symbol="BTCUSDT",
        client_order_id=client_id,
        order_id=1,
        trade_id=trade_id,  # the same trade ids in both runs
        side="BUY",
        price=D(65000),
        quantity=D("0.005"),
        fee=D("0.1"),
        fee_asset="USDT",
        realized_pnl=pnl,
        maker=False,
        time=at(minutes),
    )


def state(equity: Decimal) -> AccountState:
    position = PositionState("BTCUSDT", D("0.015"), D(65000), D(65100), D("1.5"), 2)
    return AccountState(
        wallet_balance=equity,
        equity=equity,
        available_balance=equity,
        unrealized_pnl=D("1.5"),
        margin_used=D(500),
        positions={"BTCUSDT": position},
    )


async def journal_run(db: Database, run_id: str, prefix: str, scale: int) -> Run:
    """One cycle's worth of every record, at the same times as the other run."""
    journal = SqlJournal(db.sessions, run_id=run_id)
    cost, equity, pnl = D("0.01") * scale, D(10_000) * scale, D(5) * scale
    entry, pending = f"ta-{prefix}-entry", f"ta-{prefix}-stop"
    decision_id, legs = await journal.decision(
        ALPHA, outcome(cost), [], [verdict()], candle_time=T0, at=at(0)
    )
    await journal.event(ALPHA, "funding", "funding paid", at=at(2), payload={"amount": str(-scale)})
    order = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, entry, D("0.015"))
    await journal.order_intent(ALPHA, legs[0], order, "entry", at(0))
    await journal.order_update(filled(entry), entry, at(1))
    stop = OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, pending, D("0.015"))
    await journal.order_intent(ALPHA, legs[0], stop, "stop", at(1))
    new = await journal.fills(
        ALPHA, [execution(entry, "t1", 1, D(0)), execution(entry, "t2", 3, pnl)]
    )
    assert [e.trade_id for e in new] == ["t1", "t2"]  # the other run's t1/t2 do not count
    await journal.snapshot(ALPHA, state(equity), at(5))
    day_start = D(9_000) * scale
    await journal.save_risk_state(ALPHA, RiskState(T0.date(), day_start, False, None, {}), at=at(5))
    paper = {"run": run_id}
    await journal.save_paper_state(ALPHA, paper)
    control = f"paused-{prefix}"
    await journal.save_control(ALPHA, control, None, at=at(5))
    return Run(
        run_id,
        journal,
        decision_id,
        (entry, pending),
        equity,
        cost,
        D(-scale),
        pnl,
        day_start,
        paper,
        control,
    )


@pytest.fixture
async def runs(db: Database) -> tuple[Run, Run]:
    account = await journal_run(db, ACCOUNT_RUN, "acct", 1)
    backtest = await journal_run(db, BACKTEST, "bt", 3)
    return account, backtest


async def test_every_account_read_sees_its_own_run_only(
    db: Database, runs: tuple[Run, Run]
) -> None:
    page = PageRequest(limit=100)
    for run, other in (runs, runs[::-1]):
        scope = run.run_id
        async with session_scope(db.sessions) as session:
            orders, _ = await queries.orders(session, ALPHA, page, run_id=scope)
            fills, _ = await queries.fills(session, ALPHA, page, run_id=scope)
            decisions, _ = await queries.decisions(session, ALPHA, page, run_id=scope)
            calls, _ = await queries.llm_calls(session, ALPHA, page, run_id=scope)
            usage = await queries.llm_usage(session, ALPHA, page, run_id=scope)
            events, _ = await queries.events(session, ALPHA, page, run_id=scope)
            equity = await queries.latest_equity(session, ALPHA, run_id=scope)
            count = await queries.decision_count(session, ALPHA, run_id=scope)
            record = await queries.decision(session, ALPHA, run.decision_id, run_id=scope)
            foreign = await queries.decision(session, ALPHA, other.decision_id, run_id=scope)
            risk = await load_risk_state(session, ALPHA, run_id=scope)

        assert {o.client_order_id for o in orders} == set(run.client_ids)
        assert {o.run_id for o in orders} == {run.run_id}
        assert sorted(f.trade_id for f in fills) == ["t1", "t2"]
        assert {f.run_id for f in fills} == {run.run_id}
        assert [d.id for d in decisions] == [run.decision_id]
        assert count == 1
        assert [c.cost_usd for c in calls] == [run.cost]
        assert (usage.calls, usage.cost_usd) == (1, run.cost)
        assert [(e.type, e.payload["amount"]) for e in events] == [("funding", str(run.funding))]
        assert equity is not None
        assert equity.equity == run.equity
        assert record is not None
        assert [o.client_order_id for orders in record.orders.values() for o in orders] == list(
            run.client_ids
        )
        assert sum(len(f) for f in record.fills.values()) == 2
        assert [c.cost_usd for c in record.calls] == [run.cost]
        assert foreign is None  # the other run's decision is not this run's, same account
        assert risk is not None
        assert risk.day_start_equity == run.day_start

    async with session_scope(db.sessions) as session:  # what the API reads: no run named
        orders, _ = await queries.orders(session, ALPHA, page)
        fills, _ = await queries.fills(session, ALPHA, page)
        events, _ = await queries.events(session, ALPHA, page)
        equity = await queries.latest_equity(session, ALPHA)
    assert {o.client_order_id for o in orders} == set(runs[0].client_ids)
    assert {f.run_id for f in fills} == {ACCOUNT_RUN}
    assert {e.run_id for e in events} == {ACCOUNT_RUN}
    assert equity is not None
    assert equity.equity == runs[0].equity


async def test_performance_sees_its_own_run_only(db: Database, runs: tuple[Run, Run]) -> None:
    for run in runs:
        async with session_scope(db.sessions) as session:
            curve = await performance.equity_curve(
                session, ALPHA, bucket=timedelta(hours=1), start=None, end=None, run_id=run.run_id
            )
            inputs = await performance.performance_inputs(
                session, ALPHA, start=None, end=None, run_id=run.run_id
            )
        assert [p.equity for p in curve] == [run.equity]
        assert inputs.realized == [run.pnl]
        assert inputs.fees == D("0.2")
        assert inputs.funding == run.funding
        assert inputs.unrealized == D("1.5")
        assert inputs.llm_cost == run.cost
        assert inputs.decisions == 1

    async with session_scope(db.sessions) as session:  # the account's view by default
        default = await performance.performance_inputs(session, ALPHA, start=None, end=None)
    assert default.llm_cost == runs[0].cost


async def test_llm_spend_of_a_backtest_never_eats_the_account_budget(
    db: Database, runs: tuple[Run, Run]
) -> None:
    account, backtest = runs
    day = T0.date()

    assert await DatabaseSpendLedger(db.sessions).spent(ALPHA, day) == account.cost
    spent = await DatabaseSpendLedger(db.sessions, run_id=BACKTEST).spent(ALPHA, day)
    assert spent == backtest.cost
    assert await DatabaseSpendLedger(db.sessions, run_id="arena-9").spent(ALPHA, day) == 0


async def test_the_journal_reads_back_its_own_run_only(db: Database, runs: tuple[Run, Run]) -> None:
    for run in runs:
        journal = run.journal
        risk = await journal.risk_state(ALPHA)
        assert risk is not None
        assert risk.day_start_equity == run.day_start
        assert await journal.paper_state(ALPHA) == run.paper
        assert await journal.control(ALPHA) == (run.control, None)
        assert [p.client_order_id for p in await journal.pending_orders(ALPHA)] == [
            run.client_ids[1]
        ]
        assert await journal.last_fill_time(ALPHA) == at(3)
        theses = await journal.entry_theses(ALPHA, ["BTCUSDT"])
        assert theses["BTCUSDT"].opened_at == at(0)

    fresh = SqlJournal(db.sessions, run_id=new_run_id("backtest"))
    assert await fresh.risk_state(ALPHA) is None
    assert await fresh.paper_state(ALPHA) is None
    assert await fresh.control(ALPHA) is None
    assert await fresh.pending_orders(ALPHA) == []
    assert await fresh.last_fill_time(ALPHA) is None
    assert await fresh.entry_theses(ALPHA, ["BTCUSDT"]) == {}


async def test_a_run_cannot_touch_another_runs_orders(db: Database, runs: tuple[Run, Run]) -> None:
    account, backtest = runs
    await backtest.journal.order_update(None, account.client_ids[1], at(9), status="CANCELED")

    pending = await account.journal.pending_orders(ALPHA)
    assert [p.status for p in pending] == ["intent"]


def test_run_ids_are_distinct_and_never_the_account_run() -> None:
    first, second = new_run_id("backtest"), new_run_id("backtest")
    assert first != second
    assert first.startswith("backtest-")
    with pytest.raises(ValueError, match="account"):
        new_run_id(ACCOUNT_RUN)
    with pytest.raises(ValueError, match="longer"):
        new_run_id("x" * 40)


# -- the migration -----------------------------------------------------------------------------


def alembic(*args: str, database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


_BEFORE_RUNS = (  # one linked record of every kind, as revision 0006 stored them
    "INSERT INTO accounts (id, trading_mode, created_at, updated_at) "
    "VALUES ('alpha', 'paper', :at, :at)",
    "INSERT INTO llm_calls (id, account_id, provider, model, prompt, prompt_hash, status, "
    "cost_usd, created_at) VALUES (:call, 'alpha', 'openrouter', 'm', 'p', 'h', 'ok', '0.5', :at)",
    "INSERT INTO decisions (id, account_id, llm_call_id, provider, status, created_at) "
    "VALUES (:decision, 'alpha', :call, 'openrouter', 'decided', :at)",
    "UPDATE llm_calls SET decision_id = :decision",
    "INSERT INTO decision_legs (id, decision_id, symbol, action, requested, adjustments, status, "
    "created_at) VALUES (:leg, :decision, 'BTCUSDT', 'open_long', '{}', '[]', 'approved', :at)",
    "INSERT INTO orders (id, client_order_id, account_id, decision_leg_id, symbol, side, type, "
    "purpose, quantity, reduce_only, close_position, status, status_history, filled_quantity, "
    "created_at, updated_at) VALUES (:order, 'ta-old-1', 'alpha', :leg, 'BTCUSDT', 'BUY', "
    "'MARKET', 'entry', '1', false, false, 'FILLED', '[]', '1', :at, :at)",
    "INSERT INTO fills (id, order_id, account_id, symbol, trade_id, side, price, quantity, fee, "
    "fee_asset, realized_pnl, is_maker, filled_at, created_at) VALUES (:fill, :order, 'alpha', "
    "'BTCUSDT', 't1', 'BUY', '1', '1', '0', 'USDT', '0', false, :at, :at)",
    "INSERT INTO agent_events (id, occurred_at, account_id, type, severity, message, payload, "
    "decision_id) VALUES (:event, :at, 'alpha', 'cycle', 'info', 'm', '{}', :decision)",
    "INSERT INTO equity_snapshots (account_id, taken_at, equity, wallet_balance, "
    "available_balance, unrealized_pnl, margin_used) "
    "VALUES ('alpha', :at, '1234.5', '1', '1', '0', '0')",
    "INSERT INTO risk_states (account_id, day, day_start_equity, halted, stop_outs, "
    "updated_at) VALUES ('alpha', :day, '1000', true, '{}', :at)",
)


async def test_rows_from_before_runs_land_in_the_account_run(database_url: str) -> None:
    alembic("upgrade", "0006", database_url=database_url)
    ids = {name: uuid.uuid4() for name in ("call", "decision", "leg", "order", "fill", "event")}
    engine = create_engine(normalise_database_url(database_url))
    try:
        async with engine.begin() as connection:
            for statement in _BEFORE_RUNS:
                # Typed, as the models would bind them (SQLite has no datetime of its own).
                binds: list[BindParameter[Any]] = [
                    bindparam("at", T0, type_=UtcDateTime),
                    bindparam("day", T0.date(), type_=Date),
                    *(bindparam(name, value, type_=Uuid) for name, value in ids.items()),
                ]
                used = [b for b in binds if f":{b.key}" in statement]
                await connection.execute(text(statement).bindparams(*used))
        # The service's own path; on SQLite with foreign keys on, so a table copy that tripped
        # (or cascaded through) the links above would show here.
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        async with session_scope(sessions) as session:
            record = await queries.decision(session, ALPHA, ids["decision"])
            events, _ = await queries.events(session, ALPHA, PageRequest())
            equity = await queries.latest_equity(session, ALPHA)
            fills, _ = await queries.fills(session, ALPHA, PageRequest())
            risk = await load_risk_state(session, ALPHA)
            spent = await spent_on(session, ALPHA, T0.date())
            elsewhere = await queries.decision(session, ALPHA, ids["decision"], run_id=BACKTEST)
    finally:
        await engine.dispose()

    assert record is not None
    assert record.decision.run_id == ACCOUNT_RUN
    assert [c.id for c in record.calls] == [ids["call"]]
    assert [leg.id for leg in record.legs] == [ids["leg"]]
    assert [o.client_order_id for o in record.orders[ids["leg"]]] == ["ta-old-1"]
    assert [f.id for f in record.fills[ids["order"]]] == [ids["fill"]]
    assert [(e.id, e.run_id) for e in events] == [(ids["event"], ACCOUNT_RUN)]
    assert equity is not None
    assert (equity.run_id, equity.equity) == (ACCOUNT_RUN, D("1234.5"))
    assert [(f.run_id, f.trade_id) for f in fills] == [(ACCOUNT_RUN, "t1")]
    assert risk is not None
    assert risk.halted
    assert spent == D("0.5")
    assert elsewhere is None


async def test_downgrade_drops_the_other_runs_and_keeps_the_account(database_url: str) -> None:
    engine = create_engine(normalise_database_url(database_url))
    try:
        await upgrade_to_head(engine)
        database = Database(database_url, engine, create_session_factory(engine))
        async with session_scope(database.sessions) as session:
            await sync_accounts(session, [(AccountId(ALPHA), TradingMode.PAPER)])
        await journal_run(database, ACCOUNT_RUN, "acct", 1)
        await journal_run(database, BACKTEST, "bt", 3)
    finally:
        await engine.dispose()

    alembic("downgrade", "0006", database_url=database_url)

    engine = create_engine(normalise_database_url(database_url))
    try:
        async with engine.connect() as connection:
            counts = {
                table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
                for table in (
                    "decisions",
                    "decision_legs",
                    "orders",
                    "fills",
                    "agent_events",
                    "llm_calls",
                    "equity_snapshots",
                    "position_snapshots",
                    "risk_states",
                    "paper_accounts",
                    "agent_controls",
                )
            }
            equity = (await connection.execute(text("SELECT equity FROM equity_snapshots"))).all()
    finally:
        await engine.dispose()
    assert counts == {
        "decisions": 1,
        "decision_legs": 1,
        "orders": 2,
        "fills": 2,
        "agent_events": 1,
        "llm_calls": 1,
        "equity_snapshots": 1,
        "position_snapshots": 1,
        "risk_states": 1,
        "paper_accounts": 1,
        "agent_controls": 1,
    }
    assert [D(str(row[0])) for row in equity] == [D(10_000)]


async def test_keys_stay_unique_within_a_run_and_client_ids_across_runs(
    db: Database, runs: tuple[Run, Run]
) -> None:
    account = runs[0]
    with pytest.raises(IntegrityError):  # the same trade twice in one run
        async with session_scope(db.sessions) as session:
            session.add(fill_row(BACKTEST, "t1"))
    with pytest.raises(IntegrityError):  # a client id names one order, whatever the run
        async with session_scope(db.sessions) as session:
            session.add(order_row(BACKTEST, account.client_ids[0]))
    async with session_scope(db.sessions) as session:
        session.add(fill_row("arena-1", "t1"))  # the same trade id in a third run
        taken = select(func.count()).where(EquitySnapshot.taken_at == at(5))
        assert await session.scalar(taken) == 2  # one per run, at the same time


def fill_row(run_id: str, trade_id: str) -> Fill:
    return Fill(
        run_id=run_id,
        account_id=ALPHA,
        symbol="BTCUSDT",
        trade_id=trade_id,
        side="BUY",
        price=D(1),
        quantity=D(1),
        fee=D(0),
        fee_asset="USDT",
        realized_pnl=D(0),
        is_maker=False,
        filled_at=T0,
        created_at=T0,
    )


def order_row(run_id: str, client_id: str) -> Order:
    return Order(
        run_id=run_id,
        client_order_id=client_id,
        account_id=ALPHA,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        purpose="entry",
        quantity=D(1),
        status="intent",
        status_history=[],
        created_at=T0,
        updated_at=T0,
    )
