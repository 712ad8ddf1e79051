"""The documented ways to start the service, run as real processes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import (
    BACKEND_DIR,
    BIN_DIR,
    REPO_ROOT,
    STARTUP_BUDGET_S,
    StartService,
    clean_env,
    free_port,
    wait_healthy,
)

pytestmark = pytest.mark.e2e


def test_trading_agent_starts_with_no_keys_and_no_database_server(
    start_service: StartService, tmp_path: Path
) -> None:
    port = free_port()
    service = start_service(
        [str(BIN_DIR / "trading-agent")], clean_env(API_PORT=str(port)), tmp_path, port
    )

    took = wait_healthy(service)
    ready = httpx.get(f"{service.base_url}/ready", timeout=5).json()
    log = service.output()

    assert took < STARTUP_BUDGET_S
    assert ready["status"] == "ready"
    assert ready["database"]["backend"] == "sqlite"
    assert (tmp_path / "data" / "trading-agent.db").is_file()
    assert "account default: paper trading on BTC,ETH,SOL" in log
    assert "rules-based provider" in log


def test_uv_run_trading_agent_from_anywhere(start_service: StartService, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv must be on PATH in CI")
        pytest.skip("uv is not installed")
    port = free_port()
    argv = [uv, "run", "--no-sync", "--project", str(REPO_ROOT), "trading-agent"]
    service = start_service(argv, clean_env(API_PORT=str(port)), tmp_path, port)

    wait_healthy(service)


def test_python_dash_m_app_main_in_backend(start_service: StartService, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(API_PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    service = start_service([sys.executable, "-m", "app.main"], env, BACKEND_DIR, port)

    wait_healthy(service)


def test_uvicorn_app_main_app_in_backend(start_service: StartService, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    argv = [str(BIN_DIR / "uvicorn"), "app.main:app", "--port", str(port)]
    service = start_service(argv, env, BACKEND_DIR, port)

    wait_healthy(service)
    assert httpx.get(f"{service.base_url}/ready", timeout=5).status_code == 200


@pytest.mark.parametrize(
    "argv",
    [
        [str(BIN_DIR / "trading-agent")],
        [sys.executable, "-m", "app.main"],
        [str(BIN_DIR / "uvicorn"), "app.main:app"],
    ],
)
def test_bad_configuration_exits_2_with_one_line(argv: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        argv,
        cwd=tmp_path,
        env=clean_env(LEVERAGE="0", PYTHONPATH=str(BACKEND_DIR / "src")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "LEVERAGE" in lines[0]
    assert "between 1 and 125" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_postgres_database_url_starts_migrates_and_reports(
    start_service: StartService, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    secrets = {
        "ASTERDEX_API_KEY": "ak-e2e-must-not-leak",
        "ASTERDEX_API_SECRET": "as-e2e-must-not-leak",
        "OPENROUTER_API_KEY": "sk-or-v1-e2e-must-not-leak",
    }
    env = clean_env(API_PORT=str(port), DATABASE_URL=postgres_url, LOG_LEVEL="DEBUG", **secrets)
    service = start_service([str(BIN_DIR / "trading-agent")], env, tmp_path, port)

    wait_healthy(service)
    ready = httpx.get(f"{service.base_url}/ready", timeout=5)
    # A client that puts a secret in a URL must not get it logged either.
    httpx.get(f"{service.base_url}/nope?token={secrets['ASTERDEX_API_SECRET']}", timeout=5)
    log = service.output()

    assert ready.status_code == 200
    body = ready.json()
    assert body["database"]["backend"] == "postgresql"
    assert body["database"]["at_head"] is True
    assert body["timescaledb"]["enabled"] is False
    assert "database migrated from empty to" in log
    assert "TimescaleDB off" in log
    for secret in secrets.values():
        assert secret not in log
        assert secret not in ready.text


def test_unreachable_database_fails_startup_with_a_clear_line(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://trader:pw-must-not-leak@127.0.0.1:{free_port()}/trading"
    result = subprocess.run(
        [str(BIN_DIR / "trading-agent")],
        cwd=tmp_path,
        env=clean_env(API_PORT=str(port), DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "startup failed: cannot use the database at postgresql+asyncpg://trader:***@" in (
        result.stderr
    )
    assert "pw-must-not-leak" not in result.stderr + result.stdout
