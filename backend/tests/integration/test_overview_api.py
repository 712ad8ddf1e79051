"""The account overview and the token's role in /status, over real HTTP, on a service
paper-trading the bundled candles into PostgreSQL (replay mode: its clock is simulated)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.core.types import AccountId
from app.exchange.types import OrderRequest, OrderType, Side
from tests.service import REPLAY_TOKENS, RunningService, replay_service
from tests.waiting import until_checked

pytestmark = pytest.mark.postgres
FULL, READ = REPLAY_TOKENS
ACCOUNT = "/api/v1/accounts/default"
OVERVIEW = f"{ACCOUNT}/overview"


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    # REPLAY_SPEED=1: one cycle at startup, then the next close is an hour away.
    async with replay_service(
        postgres_url, monkeypatch, speed="1", LLM_DAILY_BUDGET_USD="5"
    ) as running:
        async with running.client(READ) as http:

            async def decided() -> bool:
                return bool((await http.get(f"{ACCOUNT}/decisions")).json()["items"])

            await until_checked(decided, "the first decision")
        yield running


async def overview(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get(OVERVIEW)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_replay_time(service: RunningService, now: datetime) -> None:
    """``now`` is the replay's clock (the recording's time), not the wall clock."""
    loop = service.container.supervisor.loop(AccountId("default"))
    assert loop is not None
    assert now == loop.clock.now()
    assert now.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - now) > timedelta(days=1)


async def test_status_says_what_the_token_may_do(service: RunningService) -> None:
    async with service.client(READ) as reader, service.client(FULL) as admin:
        read = (await reader.get("/api/v1/status")).json()
        full = (await admin.get("/api/v1/status")).json()

    assert read["access"] == "read"
    assert full["access"] == "full"


async def test_the_overview_of_a_replay_account(service: RunningService) -> None:
    async with service.client(READ) as http:
        seen = await overview(http)
        positions = (await http.get(f"{ACCOUNT}/positions")).json()
        decisions = (await http.get(f"{ACCOUNT}/decisions", params={"limit": 1})).json()

    assert seen["account_id"] == "default"
    assert seen["trading_mode"] == "paper"
    assert seen["replay"] is True
    assert seen["market_data"].startswith("replay of")
    assert seen["agent_state"] == "running"
    assert seen["decider"] == "rules"
    assert seen["interval"] == "1h"
    assert seen["long_interval"] == "1h"  # LONG_INTERVAL defaults to 1h
    now = datetime.fromisoformat(seen["now"])
    assert_replay_time(service, now)
    last = datetime.fromisoformat(seen["last_decision_at"])
    assert last == datetime.fromisoformat(decisions["items"][0]["created_at"])
    assert last <= now
    equity = Decimal(seen["equity"])
    assert equity > 0
    assert Decimal(seen["wallet_balance"]) > 0
    assert Decimal(seen["unrealized_pnl"]) == equity - Decimal(seen["wallet_balance"])
    # The first cycle opened the risk day on the clock's date.
    assert Decimal(seen["today_pnl"]) == equity - Decimal(seen["day_start_equity"])
    assert seen["open_positions"] == len(positions)
    assert Decimal(seen["exposure_usd"]) == sum(
        (Decimal(p["quantity"]) * Decimal(p["mark_price"]) for p in positions), Decimal(0)
    )
    assert Decimal(seen["max_total_exposure_usd"]) == Decimal(30000)
    assert seen["llm_spend_today_usd"] == "0"  # the rules decide: no OpenRouter key
    assert seen["llm_daily_budget_usd"] == "5"
    assert seen["alerts"] == []


async def test_an_unknown_account_has_no_overview(service: RunningService) -> None:
    async with service.client(READ) as http:
        missing = await http.get("/api/v1/accounts/nobody/overview")
        account = await http.get("/api/v1/accounts/nobody")

    assert missing.status_code == 404
    assert missing.json() == {"error": "unknown_account", "detail": "no account 'nobody'"}
    assert missing.json() == account.json()  # the same answer as every account route


async def test_a_paused_agent_is_no_alert_a_stopped_one_is(service: RunningService) -> None:
    async with service.client(FULL) as http:
        paused = await http.post(f"{ACCOUNT}/agent/pause")
        while_paused = await overview(http)
        stopped = await http.post(f"{ACCOUNT}/agent/stop")
        while_stopped = await overview(http)

    assert paused.status_code == stopped.status_code == 200
    assert while_paused["agent_state"] == "paused"
    assert [a["kind"] for a in while_paused["alerts"]] == []
    assert while_stopped["agent_state"] == "stopped"
    assert while_stopped["alerts"] == [
        {
            "kind": "loop_stopped",
            "severity": "critical",
            "message": "stopped by an operator: stop requested over the API",
        }
    ]
    assert while_stopped["agent_detail"] == while_stopped["alerts"][0]["message"]
    # Still the account's clock, and the balances of its paper exchange.
    assert_replay_time(service, datetime.fromisoformat(while_stopped["now"]))
    assert Decimal(while_stopped["equity"]) > 0


async def test_a_position_without_its_stop_is_a_critical_alert(service: RunningService) -> None:
    loop = service.container.supervisor.loop(AccountId("default"))
    assert loop is not None
    # A position opened by hand, protected by the guardian's pass (run directly, as a whole
    # cycle would also let the rules decide about it), then its stop cancelled over the API.
    await loop.exchange.place_order(
        OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "by-hand-1", quantity=Decimal("0.01"))
    )
    await loop.recover()
    async with service.client(FULL) as http:
        protected = await overview(http)
        (position,) = [
            p for p in (await http.get(f"{ACCOUNT}/positions")).json() if p["symbol"] == "BTCUSDT"
        ]
        stop = next(p for p in position["protection"] if p["type"] == "STOP_MARKET")
        cancelled = await http.delete(f"{ACCOUNT}/orders/{stop['client_order_id']}")
        unprotected = await overview(http)

    assert "protection_missing" not in [a["kind"] for a in protected["alerts"]]
    assert protected["open_positions"] >= 1
    assert Decimal(protected["exposure_usd"]) >= Decimal("0.01") * Decimal(position["mark_price"])
    assert cancelled.status_code == 200
    (alert,) = [a for a in unprotected["alerts"] if a["kind"] == "protection_missing"]
    assert alert["severity"] == "critical"
    assert "BTCUSDT" in alert["message"]
