"""One SQLite database, one trading instance: a busy port ends a second instance before it
does any work, and a second instance on the same SQLite file stands by until the first one
is gone."""

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import (
    BACKEND_DIR,
    BIN_DIR,
    Service,
    StartService,
    clean_env,
    free_port,
    wait_healthy,
)

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token-0123456789abcdef"


def decisions(database: Path) -> int:
    with closing(sqlite3.connect(database)) as connection:
        return int(connection.execute("SELECT count(*) FROM decisions").fetchone()[0])


def agent_status(service: Service) -> dict[str, Any]:
    response = httpx.get(
        f"{service.base_url}/api/v1/accounts/default/agent",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def eventually(condition: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.parametrize(
    "argv", [[str(BIN_DIR / "trading-agent")], [sys.executable, "-m", "app.main"]]
)
def test_a_busy_port_exits_2_with_one_line_before_any_work(argv: list[str], tmp_path: Path) -> None:
    cwd = tmp_path / "instance"
    cwd.mkdir()
    database = cwd / "agent.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=clean_env(
                API_HOST="127.0.0.1",
                API_PORT=str(port),
                DATABASE_URL=f"sqlite:///{database}",
                PYTHONPATH=str(BACKEND_DIR / "src"),
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert f"port {port} is in use" in lines[0]
    assert "agent" not in result.stderr + result.stdout  # no supervisor, no loop, no log
    assert not database.exists()  # never opened, let alone migrated or written
    assert list(cwd.iterdir()) == []  # not even a data directory


def test_two_instances_on_one_sqlite_file_only_one_trades(
    start_service: StartService, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "trading-agent.db"
    argv = [str(BIN_DIR / "trading-agent"), "--replay"]

    def start() -> Service:
        port = free_port()
        env = clean_env(
            API_HOST="127.0.0.1", API_PORT=str(port), API_TOKEN=TOKEN, REPLAY_SPEED="3600"
        )
        service = start_service(argv, env, tmp_path, port)  # same directory: same database
        wait_healthy(service)
        return service

    first = start()
    eventually(lambda: database.exists() and decisions(database) > 0, "the first one trading")
    second = start()
    eventually(lambda: agent_status(second)["detail"].startswith("standby"), "a standby")

    assert agent_status(first)["state"] == "running"
    assert agent_status(second)["state"] == "paused"
    assert "another replica" in agent_status(second)["detail"]
    assert Path(f"{database}.lock").read_text().strip() == str(first.process.pid)

    # The holder dies without a goodbye: the kernel frees its lock, the standby takes over.
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    before = decisions(database)
    eventually(lambda: agent_status(second)["state"] == "running", "the takeover", within=40)
    eventually(lambda: decisions(database) > before, "the standby trading")
    log = second.output()

    assert "stands by: another instance holds its account lock" in log
    assert "taken: this instance trades its accounts" in log
