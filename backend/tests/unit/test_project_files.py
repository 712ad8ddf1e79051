"""The files people deploy and configure with: compose.yaml, Containerfile, .containerignore,
.env.example."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ACCOUNT_VARIABLES, Settings, load_settings
from app.main import create_app

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


def backend_healthcheck() -> list[str]:
    test = compose()["services"]["backend"]["healthcheck"]["test"]
    assert isinstance(test, list)
    return [str(part) for part in test]


def test_compose_checks_the_backend_on_its_health_route() -> None:
    # podman builds OCI images, which drop the Containerfile's HEALTHCHECK: compose says it.
    check = compose()["services"]["backend"]["healthcheck"]
    test = backend_healthcheck()

    assert test[:2] == ["CMD", "python"]  # exec form: no shell needed; python is in the image
    assert "http://127.0.0.1:3000/health" in test[-1]  # the container always listens on 3000
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)
    assert "get" in create_app().openapi()["paths"]["/health"]


def ignore_patterns(name: str) -> list[str]:
    lines = (REPO_ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """An ignore pattern as the container builders read it: ``filepath.Match`` rules per
    segment (``*`` and ``?`` stop at ``/``, ``[...]`` classes) plus ``**`` for any depth."""
    out, i = "", 0
    pattern = pattern.lstrip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out, i = (
                out + "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]",
                end + 1,
            )
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + "$")


def excluded(path: str, patterns: list[str]) -> bool:
    """Left out of the context: the last pattern matching the path or a parent decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!"))
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


LEFT_OUT = [
    ".git/HEAD",
    ".venv/bin/python",
    "backend/.venv/lib/site.py",
    ".env",
    "backend/.env",
    ".env.production",
    "backend/src/app/__pycache__/main.cpython-313.pyc",
    "__pycache__/x.pyc",
    ".mypy_cache/3.13/app/main.data.json",
    "backend/.ruff_cache/CACHEDIR.TAG",
    ".pytest_cache/v/cache/lastfailed",
    ".hypothesis/examples/x",
    "backend/data/trading-agent.db",
    "data/trading-agent.db",
    "backend/src/app/stray.db",
    "agent.db",
    "backend/data/trading-agent.db-wal",
    "data/trading-agent.db-journal",
    "data/trading-agent.db.lock",
    "backend/tests/unit/test_project_files.py",
    "backend/tests/conftest.py",
    "backend/benchmarks/run.py",
    "docs/architecture.md",
]


@pytest.mark.parametrize("name", [".containerignore", ".dockerignore"])
def test_the_build_context_leaves_out_local_data_secrets_caches_and_tests(name: str) -> None:
    patterns = ignore_patterns(name)

    kept = [path for path in LEFT_OUT if not excluded(path, patterns)]

    assert kept == []
    # podman reads .containerignore, docker .dockerignore: the same rules for both.
    assert (REPO_ROOT / name).read_text() == (REPO_ROOT / ".containerignore").read_text()


def test_the_build_context_keeps_everything_the_containerfile_copies() -> None:
    patterns = ignore_patterns(".containerignore")
    text = (REPO_ROOT / "backend" / "Containerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE)
    sources = [source for line in copies for source in line.split()[:-1]]
    assert sources  # pyproject.toml, .python-version, backend/...
    needed: list[str] = []
    for source in sources:
        root = REPO_ROOT / source
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        needed += [p.relative_to(REPO_ROOT).as_posix() for p in files]

    service = [
        path
        for path in needed
        if path.startswith(("backend/src/", "backend/migrations/")) and "__pycache__" not in path
    ]
    missing = [path for path in service if excluded(path, patterns)]
    top = ["pyproject.toml", ".python-version", "backend/pyproject.toml", "backend/alembic.ini"]

    assert "backend/src/app/market_data/sample/BTCUSDT-1h.csv" in service
    assert any(path.startswith("backend/migrations/versions/") for path in service)
    assert missing == []
    assert [path for path in top if excluded(path, patterns)] == []
