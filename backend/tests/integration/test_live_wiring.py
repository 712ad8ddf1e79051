"""The service wires live accounts from the environment: each with its own keys on a live
exchange port next to paper accounts, and never on replayed prices."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.core.types import AccountId
from app.db.session import session_scope
from app.exchange.live import LiveExchange
from app.exchange.paper import PaperExchange
from app.runtime.agents import build_agents
from app.trading.repository import sync_accounts
from tests.db import Database
from tests.fakes.asterdex import FakeAsterdex

pytestmark = pytest.mark.postgres


async def settings_for(pg: Database, tmp_path: Path, **env: str) -> Settings:
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {"DATABASE_URL": pg.url, **env}.items()))
    settings = load_settings(env_file, use_default_env_file=False)
    async with session_scope(pg.sessions) as session:
        await sync_accounts(session, [(a.id, a.trading_mode) for a in settings.accounts])
    return settings


async def test_a_live_account_trades_with_its_own_keys_beside_a_paper_one(
    pg: Database, tmp_path: Path
) -> None:
    async with FakeAsterdex(rebase_to=datetime.now(UTC)) as fake:
        fake.add_hmac_account("key-of-a", "secret-of-a")
        settings = await settings_for(
            pg,
            tmp_path,
            ASTERDEX_BASE_URL=fake.base_url,
            ASTERDEX_WS_URL=fake.ws_url,
            MULTI_ACCOUNT_MODE="true",
            ACCOUNT_IDS="a,b",
            TRADING_MODE_A="live",
            ASTERDEX_API_KEY_A="key-of-a",
            ASTERDEX_API_SECRET_A="secret-of-a",
            ASSETS="BTC,ETH",
        )
        runtime = await build_agents(settings, pg.engine, pg.sessions, replay=False)
        try:
            live, paper = runtime.accounts[AccountId("a")], runtime.accounts[AccountId("b")]
            assert isinstance(live.exchange, LiveExchange)
            assert live.exchange.streaming
            assert isinstance(paper.exchange, PaperExchange)
            assert runtime.source_name == "AsterDEX market data"
            assert live.managed.loop is not None

            await live.managed.loop.tick()  # recovery, then a cycle on the live account

            signed = [r for r in fake.requests if r.headers.get("x-mbx-apikey") == "key-of-a"]
            assert any(r.path.endswith("/positionSide/dual") for r in signed)  # mode checked
            assert any(r.path.endswith("/account") for r in signed)
            assert all(r.status == 200 for r in signed)
        finally:
            await runtime.aclose()


async def test_a_live_account_never_runs_on_replayed_prices(pg: Database, tmp_path: Path) -> None:
    settings = await settings_for(
        pg,
        tmp_path,
        ASTERDEX_BASE_URL="http://127.0.0.1:9",  # nothing listens: unreachable
        TRADING_MODE="live",
        ASTERDEX_API_KEY="some-api-key-1",
        ASTERDEX_API_SECRET="some-api-secret-1",
    )
    runtime = await build_agents(settings, pg.engine, pg.sessions, replay=False)
    try:
        (agent,) = runtime.accounts.values()
        assert agent.managed.loop is None
        assert "never trades on replayed prices" in agent.managed.detail
        assert runtime.source_name.startswith("replay of")
    finally:
        await runtime.aclose()
