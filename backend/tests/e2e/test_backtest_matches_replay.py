"""A backtest is the paper replay, faster: the same window, provider and settings give the
same trades. The replay runs as users run it (`trading-agent --replay`, its SQLite
database); the backtest runs in this process on the same recording."""

import asyncio
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from app.backtest.engine import RunStatus, run_backtest
from app.backtest.spec import BacktestSpec
from app.core.clock import Clock
from app.market_data.replay import ReplayMarketData
from tests.backtest.data import LAST, write_recording

from .conftest import BIN_DIR, StartService, clean_env, free_port, wait_healthy

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token-0123456789abcdef"


def _at(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def replay_fills(database: Path) -> tuple[datetime, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(database)) as connection:
        first = connection.execute("SELECT min(created_at) FROM decisions").fetchone()[0]
        rows = connection.execute(
            "SELECT symbol, side, quantity, price, fee, realized_pnl, filled_at FROM fills"
            " ORDER BY filled_at, trade_id"
        ).fetchall()
    return _at(first), [
        (s, side, Decimal(q), Decimal(p), Decimal(f), Decimal(r), _at(at))
        for s, side, q, p, f, r, at in rows
    ]


def test_a_backtest_of_the_replay_window_makes_the_replay_trades(
    start_service: StartService, tmp_path: Path
) -> None:
    recording = write_recording(tmp_path / "recording")
    port = free_port()
    env = clean_env(
        API_PORT=str(port),
        API_TOKEN=TOKEN,
        REPLAY_SPEED="1000000",
        REPLAY_DATA_DIR=str(recording),
        ASSETS="BTC,ETH",
        INTERVAL="1h",
        LONG_INTERVAL="4h",
    )
    service = start_service([str(BIN_DIR / "trading-agent"), "--replay"], env, tmp_path, port)
    wait_healthy(service)
    deadline = time.monotonic() + 120
    detail = ""
    while time.monotonic() < deadline:
        agent = httpx.get(
            f"{service.base_url}/api/v1/accounts/default/agent",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        ).json()
        detail = agent.get("detail", "")
        if detail == "finished":
            break
        time.sleep(0.5)
    log = service.output()
    assert detail == "finished", log[-3000:]
    start, replayed = replay_fills(tmp_path / "data" / "trading-agent.db")
    assert len(replayed) >= 4, log[-2000:]

    def source(clock: Clock) -> ReplayMarketData:
        return ReplayMarketData(clock, recording)

    spec = BacktestSpec(start, LAST, ("BTC", "ETH"), interval="1h", long_interval="4h")
    run = asyncio.run(run_backtest(spec, source))

    assert run.status is RunStatus.COMPLETED
    backtested = [
        (f.symbol, f.side, f.quantity, f.price, f.fee, f.realized_pnl, f.filled_at)
        for f in run.journal.fill_records
    ]
    assert backtested == replayed
