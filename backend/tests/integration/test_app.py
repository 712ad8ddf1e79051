"""The service in-process on its real lifespan: SQLite default and PostgreSQL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from app import __version__
from app.config import load_settings
from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.migrate import head_revision
from app.db.session import create_session_factory, session_scope
from app.main import create_app
from app.trading.models import Account


@asynccontextmanager
async def running_app() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(use_default_env_file=False))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_default_runs_on_an_sqlite_file_with_no_configuration(tmp_path: Path) -> None:
    async with running_app() as client:
        health = await client.get("/health")
        ready = await client.get("/ready")
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
        schema = await client.get("/openapi.json")

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": __version__}
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["database"]["backend"] == "sqlite"
    assert body["database"]["at_head"] is True
    assert body["database"]["revision"] == head_revision()
    assert body["timescaledb"] == {"enabled": False, "version": None, "hypertables": []}
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert redoc.status_code == 200
    assert schema.json()["info"]["version"] == __version__
    assert (tmp_path / "work" / "data" / "trading-agent.db").exists()  # under the cwd


async def test_unknown_routes_answer_in_the_one_error_shape() -> None:
    async with running_app() as client:
        response = await client.get("/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


@pytest.mark.postgres
async def test_postgres_ready_reports_database_and_timescaledb_state(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("MULTI_ACCOUNT_MODE", "true")
    monkeypatch.setenv("ACCOUNT_IDS", "alice,bob")

    async with running_app() as client:
        ready = await client.get("/ready")

    assert ready.status_code == 200
    body = ready.json()
    assert body["database"]["backend"] == "postgresql"
    assert body["database"]["at_head"] is True
    assert body["timescaledb"]["enabled"] is False


@pytest.mark.postgres
async def test_configured_accounts_are_registered_and_kept(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("MULTI_ACCOUNT_MODE", "true")
    monkeypatch.setenv("ACCOUNT_IDS", "alice,bob")
    async with running_app():
        pass
    monkeypatch.setenv("ACCOUNT_IDS", "bob,carol")
    monkeypatch.setenv("TRADING_MODE_BOB", "live")
    monkeypatch.setenv("ASTERDEX_API_KEY_BOB", "bob-key-123456")
    monkeypatch.setenv("ASTERDEX_API_SECRET_BOB", "bob-secret-123456")

    async with running_app():
        pass

    engine = create_engine(normalise_database_url(postgres_url))
    try:
        async with session_scope(create_session_factory(engine)) as session:
            rows = {a.id: a.trading_mode for a in await session.scalars(select(Account))}
    finally:
        await engine.dispose()

    # alice is no longer configured but keeps her history; bob switched to live.
    assert rows == {"alice": "paper", "bob": "live", "carol": "paper"}


async def test_schema_behind_head_is_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTO_MIGRATE", "false")

    async with running_app() as client:
        ready = await client.get("/ready")
        health = await client.get("/health")

    assert health.status_code == 200
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["database"]["reachable"] is True
    assert body["database"]["revision"] is None
    assert "expected" in body["database"]["error"]
