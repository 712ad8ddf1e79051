"""Migrations up and down on PostgreSQL and SQLite, through the CLI and the service's runner."""

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from app.config import DEFAULT_SQLITE_URL
from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.migrate import BACKEND_DIR, head_revision, schema_state, upgrade_to_head
from app.db.registry import metadata
from app.db.session import create_session_factory, session_scope
from app.db.timescale import HYPERTABLES, RUN_SCOPED_HYPERTABLES
from app.market_data.models import Candle
from app.trading.models import Account, Order

TABLES = set(metadata.tables)


def alembic(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run `cd backend && alembic ...` as a user would."""
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=BACKEND_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def table_names(url: str) -> set[str]:
    engine = create_engine(normalise_database_url(url))
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def column_names(url: str, table: str) -> set[str]:
    engine = create_engine(normalise_database_url(url))
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: inspect(sync).get_columns(table))
    finally:
        await engine.dispose()
    return {column["name"] for column in columns}


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'agent.db'}"


@pytest.mark.postgres
async def test_cli_upgrade_and_downgrade_on_postgres(postgres_url: str) -> None:
    up = alembic("upgrade", "head", database_url=postgres_url)
    assert up.returncode == 0, up.stderr
    assert await table_names(postgres_url) == TABLES

    check = alembic("check", database_url=postgres_url)
    assert check.returncode == 0, check.stdout + check.stderr  # models match the migrations

    down = alembic("downgrade", "0006", database_url=postgres_url)
    assert down.returncode == 0, down.stderr
    assert "run_id" not in await column_names(postgres_url, "llm_calls")
    base = alembic("downgrade", "base", database_url=postgres_url)
    assert base.returncode == 0, base.stderr
    assert await table_names(postgres_url) == set()

    again = alembic("upgrade", "head", database_url=postgres_url)
    assert again.returncode == 0, again.stderr
    assert await table_names(postgres_url) == TABLES


async def test_cli_upgrade_and_downgrade_on_sqlite(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)

    up = alembic("upgrade", "head", database_url=url)
    assert up.returncode == 0, up.stderr
    assert await table_names(url) == TABLES
    check = alembic("check", database_url=url)
    assert check.returncode == 0, check.stdout + check.stderr

    down = alembic("downgrade", "0006", database_url=url)
    assert down.returncode == 0, down.stderr
    assert "run_id" not in await column_names(url, "llm_calls")
    base = alembic("downgrade", "base", database_url=url)
    assert base.returncode == 0, base.stderr
    assert await table_names(url) == set()


def test_cli_without_database_url_uses_the_embedded_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(BACKEND_DIR / "alembic.ini"),
            "upgrade",
            "head",
        ],
        cwd=tmp_path,
        env={**env, "ENV_FILE": str(tmp_path / "absent.env")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "SQLiteImpl" in result.stderr
    assert DEFAULT_SQLITE_URL.endswith("./data/trading-agent.db")
    assert (tmp_path / "data" / "trading-agent.db").is_file()  # relative to the working dir


# Revision 0008 adds mark_candles, a hypertable exactly when candles is one.
@pytest.mark.parametrize(("flag", "expected"), [("true", len(HYPERTABLES) + 1), ("false", 0)])
def test_offline_ddl_creates_hypertables_only_with_timescaledb(flag: str, expected: int) -> None:
    result = alembic(
        "-x",
        f"timescaledb={flag}",
        "upgrade",
        "head",
        "--sql",
        database_url="postgresql://nobody@localhost:1/offline",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("create_hypertable(") == expected
    # Revision 0007 turns compression off and on again around the run-scoped keys.
    rescheduled = len(RUN_SCOPED_HYPERTABLES) if expected else 0
    assert result.stdout.count("add_compression_policy(") == expected + rescheduled
    assert result.stdout.count("remove_compression_policy(") == rescheduled
    assert "CREATE TABLE candles" in result.stdout
    assert "time_bucket" not in result.stdout


@pytest.mark.postgres
async def test_service_migrates_postgres_without_timescaledb_to_plain_tables(
    postgres_url: str,
) -> None:
    engine = create_engine(normalise_database_url(postgres_url))
    try:
        before = await schema_state(engine)
        await upgrade_to_head(engine)
        after = await schema_state(engine)
    finally:
        await engine.dispose()

    assert before.current is None
    assert not before.at_head
    assert after.current == head_revision()
    assert after.at_head
    # This server has no TimescaleDB: the fallback keeps plain tables.
    assert after.timescaledb is None
    assert after.hypertables == ()


@pytest.mark.postgres
async def test_replicas_migrating_at_once_take_turns(postgres_url: str) -> None:
    engines = [create_engine(normalise_database_url(postgres_url)) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_to_head(engine) for engine in engines))
        state = await schema_state(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()

    assert state.at_head


async def roundtrip_exact_values(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        open_time = datetime(2024, 10, 1, 12, tzinfo=UTC)
        price = Decimal("63123.123456789012345678")
        tiny = Decimal("0.000000000000000001")
        async with session_scope(sessions) as session:
            session.add(Account(id="acct", trading_mode="paper"))
            session.add(
                Candle(
                    symbol="BTCUSDT",
                    interval="1h",
                    open_time=open_time,
                    open=price,
                    high=price,
                    low=tiny,
                    close=price,
                    volume=Decimal("1234.5"),
                )
            )
            await session.flush()
            session.add(
                Order(
                    client_order_id=f"ta-{uuid.uuid4().hex[:20]}",
                    account_id="acct",
                    symbol="BTCUSDT",
                    side="BUY",
                    type="MARKET",
                    purpose="entry",
                    quantity=Decimal("0.001"),
                    status="intent",
                    status_history=[{"status": "intent", "at": open_time.isoformat()}],
                    created_at=open_time,
                    updated_at=open_time,
                )
            )
        async with session_scope(sessions) as session:
            candle = (await session.scalars(select(Candle))).one()
            order = (await session.scalars(select(Order))).one()
        assert candle.open == price
        assert candle.low == tiny
        assert candle.open_time == open_time
        assert candle.open_time.tzinfo is not None
        assert order.quantity == Decimal("0.001")
        assert order.status_history[0]["status"] == "intent"
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_decimals_and_times_are_exact_on_postgres(postgres_url: str) -> None:
    await roundtrip_exact_values(postgres_url)


async def test_decimals_and_times_are_exact_on_sqlite(tmp_path: Path) -> None:
    await roundtrip_exact_values(sqlite_url(tmp_path))


async def test_floats_and_naive_datetimes_are_refused(tmp_path: Path) -> None:
    engine = create_engine(normalise_database_url(sqlite_url(tmp_path)))
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        fields = {"symbol": "BTCUSDT", "interval": "1h", "volume": Decimal(1)}
        prices = {"open": Decimal(1), "high": Decimal(1), "low": Decimal(1), "close": Decimal(1)}
        naive = Candle(open_time=datetime(2024, 1, 1), **fields, **prices)  # noqa: DTZ001
        with pytest.raises(Exception, match="naive datetime"):
            async with session_scope(sessions) as session:
                session.add(naive)
        floaty = Candle(open_time=datetime(2024, 1, 1, tzinfo=UTC), **fields, **prices)
        floaty.open = 1.5  # type: ignore[assignment]
        with pytest.raises(Exception, match="floats lose money"):
            async with session_scope(sessions) as session:
                session.add(floaty)
    finally:
        await engine.dispose()
