"""Hot reload on a running replay service: a valid ``.env`` change reaches the agent at its
next cycle, a restart-only change is reported, an invalid change (or one the agents refuse,
such as an unknown asset) is rejected whole and the running configuration stays."""

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.agent.models import AgentEvent
from app.agent.supervisor import CONFIG_PAUSED, AgentState
from app.config import ConfigChange, SettingsWatcher, load_settings
from app.core.types import AccountId
from app.db.session import session_scope
from app.runtime.agents import AgentsRuntime, build_agents
from app.runtime.reload import apply_change, vet_change
from app.trading.models import DecisionLeg
from app.trading.repository import sync_accounts
from tests.db import Database
from tests.waiting import until

pytestmark = pytest.mark.postgres


def write_env(path: Path, **values: str) -> None:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))


@pytest.fixture
async def service(
    pg: Database, tmp_path: Path
) -> AsyncIterator[tuple[AgentsRuntime, SettingsWatcher, Path]]:
    env_file = tmp_path / ".env"
    base = {"DATABASE_URL": pg.url, "ASSETS": "BTC,ETH", "LEVERAGE": "2", "AGENTS_ENABLED": "true"}
    write_env(env_file, **base)
    settings = load_settings(env_file, use_default_env_file=False)
    async with session_scope(pg.sessions) as session:
        await sync_accounts(session, [(a.id, a.trading_mode) for a in settings.accounts])
    runtime = await build_agents(settings, pg.engine, pg.sessions, replay=True)
    # The supervisor is not started: the tests drive the cycles themselves.
    watcher = SettingsWatcher(settings, env_file, cache_ttl_s=3600)
    assert watcher.check() is None
    try:
        yield runtime, watcher, env_file
    finally:
        await runtime.aclose()


async def test_a_valid_change_applies_at_the_next_cycle(
    pg: Database, service: tuple[AgentsRuntime, SettingsWatcher, Path]
) -> None:
    runtime, watcher, env_file = service
    loop = runtime.accounts[AccountId("default")].managed.loop
    assert loop is not None
    await loop.tick()
    assert set(loop.config.symbols) == {"BTC", "ETH"}

    write_env(
        env_file,
        DATABASE_URL=pg.url,
        ASSETS="BTC,ETH,SOL",
        LEVERAGE="3",
        MAX_STOP_DISTANCE_PCT="4",
        API_PORT="3100",
        AGENTS_ENABLED="true",
    )
    change = watcher.check()
    assert change is not None
    assert set(change.applied) == {"ASSETS", "LEVERAGE", "MAX_STOP_DISTANCE_PCT"}
    assert change.needs_restart == ("API_PORT",)
    await apply_change(runtime, change)

    assert set(loop.config.symbols) == {"BTC", "ETH"}  # a running cycle never sees two
    await loop.tick()
    assert loop.config.symbols == {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}
    assert loop.config.limits.max_leverage == Decimal(3)
    assert loop.config.limits.max_stop_distance == Decimal("0.04")
    async with session_scope(pg.sessions) as session:
        events = list(await session.scalars(select(AgentEvent)))
        rows = (await session.execute(select(DecisionLeg.decision_id, DecisionLeg.symbol))).all()
    by_decision: dict[object, set[str]] = {}
    for decision_id, symbol in rows:
        by_decision.setdefault(decision_id, set()).add(symbol)
    # Both cycles ran at the same clock time: before the change two symbols, after it three
    # (SOL was backfilled and decided on).
    assert sorted(by_decision.values(), key=len) == [
        {"BTCUSDT", "ETHUSDT"},
        {"BTCUSDT", "ETHUSDT", "SOLUSDT"},
    ]
    reloaded = [e for e in events if e.type == "config.reloaded"]
    assert len(reloaded) == 1
    assert reloaded[0].payload["needs_restart"] == ["API_PORT"]


async def test_agent_paused_in_the_file_pauses_and_resumes_the_account(
    pg: Database, service: tuple[AgentsRuntime, SettingsWatcher, Path]
) -> None:
    runtime, watcher, env_file = service
    base = {"DATABASE_URL": pg.url, "ASSETS": "BTC,ETH", "AGENTS_ENABLED": "true"}

    write_env(env_file, **base, AGENT_PAUSED="true")
    change = watcher.check()
    assert change is not None
    await apply_change(runtime, change)
    (status,) = runtime.supervisor.status()
    assert status.state is AgentState.PAUSED
    assert status.detail == CONFIG_PAUSED

    write_env(env_file, **base, AGENT_PAUSED="false")
    change = watcher.check()
    assert change is not None
    await apply_change(runtime, change)
    (status,) = runtime.supervisor.status()
    assert status.detail != CONFIG_PAUSED


async def test_an_invalid_change_is_rejected_and_the_running_config_stays(
    pg: Database,
    service: tuple[AgentsRuntime, SettingsWatcher, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, watcher, env_file = service
    loop = runtime.accounts[AccountId("default")].managed.loop
    assert loop is not None
    before = watcher.current

    write_env(env_file, DATABASE_URL=pg.url, ASSETS="BTC,ETH", LEVERAGE="0")
    with caplog.at_level(logging.ERROR):
        assert watcher.check() is None

    assert watcher.current is before
    assert any(
        "configuration change rejected" in r.getMessage() and "LEVERAGE" in r.getMessage()
        for r in caplog.records
    )
    await loop.tick()
    assert loop.config.limits.max_leverage == Decimal(2)


async def test_an_unknown_asset_in_the_file_is_rejected_whole(
    pg: Database,
    service: tuple[AgentsRuntime, SettingsWatcher, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, watcher, env_file = service
    loop = runtime.accounts[AccountId("default")].managed.loop
    assert loop is not None
    before = watcher.current
    handed_over: list[ConfigChange] = []

    async def on_change(change: ConfigChange) -> None:
        handed_over.append(change)

    async def vet(change: ConfigChange) -> None:
        await vet_change(runtime, change)

    def rejected() -> bool:
        return any(
            "configuration change rejected" in r.getMessage() and "DOGE" in r.getMessage()
            for r in caplog.records
        )

    write_env(env_file, DATABASE_URL=pg.url, ASSETS="BTC,DOGE", LEVERAGE="1", AGENTS_ENABLED="true")
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR):
        watching = asyncio.create_task(watcher.run(on_change, stop, poll_s=0.01, vet=vet))
        try:
            await until(rejected, "the rejection")
        finally:
            stop.set()
            await watching
    await loop.tick()

    assert watcher.current is before  # GET /config keeps showing what is in force
    assert handed_over == []
    assert set(loop.config.symbols) == {"BTC", "ETH"}
    assert loop.config.limits.max_leverage == Decimal(2)  # the valid part is refused too
