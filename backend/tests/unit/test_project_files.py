"""The files people deploy and configure with: compose.yaml, Containerfile, .env.example."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ACCOUNT_VARIABLES, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_runs_timescaledb_with_a_volume_and_a_healthcheck() -> None:
    db = compose()["services"]["db"]

    assert db["image"] == "timescale/timescaledb:latest-pg17"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert set(db["environment"]) == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    assert "db-data" in compose()["volumes"]


def test_compose_builds_the_backend_and_waits_for_a_healthy_database() -> None:
    backend = compose()["services"]["backend"]

    assert backend["build"] == {"context": ".", "dockerfile": "backend/Containerfile"}
    assert (REPO_ROOT / backend["build"]["dockerfile"]).is_file()
    assert backend["env_file"] == ".env"
    assert backend["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert backend["ports"] == ["${API_PORT:-3000}:3000"]
    assert backend["environment"]["API_PORT"] == "3000"
    url = backend["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert "@db:5432/" in url


def test_compose_database_url_is_accepted_by_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = compose()["services"]["backend"]["environment"]["DATABASE_URL"]
    expanded = re.sub(r"\$\{(\w+)(:-([^}]*))?\}", lambda m: m.group(3) or "pw", url)
    monkeypatch.setenv("DATABASE_URL", expanded)

    assert load_settings().database.url.startswith("postgresql+asyncpg://trader:pw@db:5432/")


def test_containerfile_is_multi_stage_uses_uv_and_runs_unprivileged() -> None:
    text = (REPO_ROOT / "backend" / "Containerfile").read_text()

    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "uv sync" in text
    assert "UV_PYTHON_DOWNLOADS=never" in text
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")
    assert "EXPOSE 3000" in text
    assert 'CMD ["trading-agent"]' in text


def documented_variables() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_env_example_documents_every_setting() -> None:
    documented = documented_variables()
    settings = {name.upper() for name in Settings.model_fields}

    assert settings - documented == set()
    text = (REPO_ROOT / ".env.example").read_text()
    for variable in ACCOUNT_VARIABLES.values():
        assert variable in text


def test_env_example_copied_to_dot_env_starts_with_the_defaults() -> None:
    shutil.copy(REPO_ROOT / ".env.example", ".env")

    settings = load_settings()

    assert settings.asterdex_api_key is None
    assert settings.database.url.startswith("sqlite+aiosqlite:///")
    assert [a.id for a in settings.accounts] == ["default"]


def test_lock_file_stays_out_of_git() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()

    assert "uv.lock" in ignored
    assert (REPO_ROOT / ".python-version").read_text().strip() == "3.13"


def test_pre_commit_hooks_are_local_and_run_through_uv() -> None:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())

    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert {"black", "ruff", "mypy"} <= set(hooks)
    assert all(hook["entry"].startswith("uv run ") for hook in hooks.values())
