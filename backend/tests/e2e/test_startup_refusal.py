"""What startup refuses, ``--check-config`` refuses first: one line, exit code 2, no traceback.

Real processes, offline: AsterDEX points at a closed loopback port, so the service falls back
to the bundled replay (as it does when the exchange does not answer) and checks the
configured assets against the replay's symbols.
"""

import subprocess
from pathlib import Path

import pytest

from .conftest import BIN_DIR, clean_env, free_port

pytestmark = pytest.mark.e2e


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: AsterDEX "unreachable"
    return subprocess.run(
        [str(BIN_DIR / "trading-agent"), *args],
        cwd=tmp_path,
        env=clean_env(ASTERDEX_BASE_URL=closed, API_PORT=str(free_port()), **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _lines_naming(variable: str, stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"{variable}:" in line]


@pytest.mark.parametrize("args", [["--check-config"], []], ids=["check-config", "start"])
def test_an_unknown_asset_exits_2_with_one_line_naming_assets(
    args: list[str], tmp_path: Path
) -> None:
    result = _run(args, tmp_path, ASSETS="BTC,FOO")

    assert result.returncode == 2, result.stderr
    [line] = _lines_naming("ASSETS", result.stderr)
    assert "unknown asset(s) FOO" in line
    assert "known include: BTC, ETH, SOL" in line
    assert "Traceback" not in result.stderr
    assert "Application startup failed" not in result.stderr
    assert "account default" not in result.stdout  # no summary of a refused configuration


def test_check_config_names_the_accounts_own_assets_variable(tmp_path: Path) -> None:
    result = _run(
        ["--check-config"],
        tmp_path,
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="main,alt",
        ASSETS="BTC",
        ASSETS_ALT="ETH,NOPE",
    )

    assert result.returncode == 2, result.stderr
    [line] = _lines_naming("ASSETS_alt", result.stderr)
    assert "unknown asset(s) NOPE" in line
    assert _lines_naming("ASSETS", result.stderr) == []


def test_check_config_refuses_a_replay_folder_without_recordings(tmp_path: Path) -> None:
    empty = tmp_path / "recordings"
    empty.mkdir()

    result = _run(["--check-config", "--replay"], tmp_path, REPLAY_DATA_DIR=str(empty))

    assert result.returncode == 2, result.stderr
    [line] = _lines_naming("REPLAY_DATA_DIR", result.stderr)
    assert str(empty) in line
    assert "Traceback" not in result.stderr


def test_check_config_accepts_known_assets_and_says_which_market_data(tmp_path: Path) -> None:
    result = _run(["--check-config"], tmp_path, ASSETS="btc,SOL")

    assert result.returncode == 0, result.stderr
    assert "account default: paper" in result.stdout
    assert "market data: replay of " in result.stdout
    assert not (tmp_path / "data").exists()  # a check opens no database
