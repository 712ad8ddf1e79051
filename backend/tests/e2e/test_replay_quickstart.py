"""The quick start: `trading-agent --replay` with no keys paper-trades the bundled candles
with the rules provider, and the decisions, orders, fills and equity land in the database."""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from .conftest import BIN_DIR, StartService, clean_env, free_port, wait_healthy

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token-0123456789abcdef"


def counts(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "decisions",
                "decision_legs",
                "orders",
                "fills",
                "equity_snapshots",
                "llm_calls",
                "paper_accounts",
            )
        }


def test_replay_paper_trades_offline_and_records_everything(
    start_service: StartService, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(API_PORT=str(port), REPLAY_SPEED="200000", API_TOKEN=TOKEN)
    service = start_service([str(BIN_DIR / "trading-agent"), "--replay"], env, tmp_path, port)
    wait_healthy(service)

    database = tmp_path / "data" / "trading-agent.db"
    deadline = time.monotonic() + 60
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        seen = counts(database)
        if seen["fills"] >= 2 and seen["equity_snapshots"] >= 20:
            break
        time.sleep(1)
    ready = httpx.get(f"{service.base_url}/ready", timeout=5).json()
    dashboard = httpx.get(f"{service.base_url}/", timeout=5)
    chart_library = httpx.get(f"{service.base_url}/static/vendor/plotly.min.js", timeout=5)
    agent = httpx.get(
        f"{service.base_url}/api/v1/accounts/default/agent",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    log = service.output()

    assert ready["status"] == "ready"
    # The dashboard is served by the installed command, its chart library from the package.
    assert dashboard.status_code == 200
    assert '<script type="module" src="/static/dashboard/js/main.js">' in dashboard.text
    assert chart_library.status_code == 200
    assert len(chart_library.content) > 1_000_000  # the whole plotly.js bundle
    assert agent["market_data"].startswith("replay of ")
    assert agent["trading_mode"] == "paper"
    assert seen["decisions"] >= 20, log[-3000:]
    assert seen["orders"] >= 2
    assert seen["fills"] >= 2
    assert seen["equity_snapshots"] >= 20
    assert seen["llm_calls"] == 0  # no key: the rules provider decided
    assert seen["paper_accounts"] == 1
    assert "paper trading runs on recorded candles" in log
    with closing(sqlite3.connect(database)) as connection:
        providers = {row[0] for row in connection.execute("SELECT provider FROM decisions")}
    assert providers == {"rules"}
