"""The REST surface over real HTTP, on a service paper-trading the bundled candles into
PostgreSQL: status, accounts, positions with protection, the journal, performance, control
and configuration."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.core.types import AccountId
from app.exchange.types import OrderRequest, OrderType, Side
from app.runtime.container import RuntimeOptions
from tests.service import RunningService, serve

pytestmark = pytest.mark.postgres
FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
ACCOUNT = "/api/v1/accounts/default"


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    for name, value in {
        "DATABASE_URL": postgres_url,
        "AGENTS_ENABLED": "true",
        "API_TOKEN": FULL,
        "API_READ_TOKEN": READ,
        "REPLAY_SPEED": "1",  # one cycle at startup, the rest when a test asks
        "CONFIG_WATCH_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    async with serve(RuntimeOptions(replay=True)) as running:
        async with running.client(READ) as http:
            for _ in range(200):
                if (await http.get(f"{ACCOUNT}/decisions")).json()["items"]:
                    break
                await asyncio.sleep(0.05)
        yield running


async def cycle(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{ACCOUNT}/agent/cycle")
    assert response.status_code == 200, response.text


async def test_status_and_accounts_describe_the_running_service(service: RunningService) -> None:
    async with service.client(READ) as http:
        status = (await http.get("/api/v1/status")).json()
        accounts = (await http.get("/api/v1/accounts")).json()
        one = (await http.get(ACCOUNT)).json()

    assert status["mode"] == "paper"
    assert status["replay"] is True
    assert status["market_data"].startswith("replay of")
    assert status["database"]["backend"] == "postgresql"
    assert status["database"]["at_head"] is True
    assert [a["state"] for a in status["accounts"]] == ["running"]
    assert [a["id"] for a in accounts] == ["default"]
    assert one["decider"] == "rules"
    assert one["assets"] == ["BTC", "ETH", "SOL"]
    assert one["balance"]["source"] == "exchange"
    assert Decimal(one["balance"]["equity"]) > 0
    assert Decimal(one["limits"]["max_position_size_usd"]) == Decimal(10000)


async def test_decisions_page_with_a_cursor_and_open_whole(service: RunningService) -> None:
    async with service.client(FULL) as http:
        await cycle(http)
        await cycle(http)
        first = (await http.get(f"{ACCOUNT}/decisions", params={"limit": 1})).json()
        second = (
            await http.get(
                f"{ACCOUNT}/decisions", params={"limit": 1, "cursor": first["next_cursor"]}
            )
        ).json()
        everything = (await http.get(f"{ACCOUNT}/decisions", params={"limit": 500})).json()
        detail = (await http.get(f"{ACCOUNT}/decisions/{first['items'][0]['id']}")).json()

    assert first["next_cursor"] is not None
    assert first["items"][0]["id"] != second["items"][0]["id"]
    ids = [d["id"] for d in everything["items"]]
    assert ids[:2] == [first["items"][0]["id"], second["items"][0]["id"]]  # newest first
    assert everything["next_cursor"] is None
    assert detail["provider"] == "rules"
    assert sorted(leg["symbol"] for leg in detail["legs"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for leg in detail["legs"]:
        assert {"requested", "approved", "adjustments", "orders", "fills"} <= leg.keys()
        assert all({"rule", "reason"} <= a.keys() for a in leg["adjustments"])


async def test_positions_show_protection_and_can_be_closed(service: RunningService) -> None:
    loop = service.container.supervisor.loop(AccountId("default"))
    assert loop is not None
    # A position opened by hand: the guardian adopts it and protects it.
    await loop.exchange.place_order(
        OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "by-hand-1", quantity=Decimal("0.01"))
    )
    # (The guardian's pass is run directly: a whole cycle would also let the rules provider
    # decide about the position.)
    async with service.client(FULL) as http:
        await loop.recover()
        (position,) = [
            p for p in (await http.get(f"{ACCOUNT}/positions")).json() if p["symbol"] == "BTCUSDT"
        ]
        stop = next(p for p in position["protection"] if p["type"] == "STOP_MARKET")
        cancelled = await http.delete(f"{ACCOUNT}/orders/{stop['client_order_id']}")
        unprotected = (await http.get(f"{ACCOUNT}/positions")).json()
        await loop.recover()  # the guardian re-arms the stop
        rearmed = (await http.get(f"{ACCOUNT}/positions")).json()
        closed = await http.post(f"{ACCOUNT}/positions/BTCUSDT/close", json={"reason": "test over"})
        after = (await http.get(f"{ACCOUNT}/positions")).json()
        again = await http.post(f"{ACCOUNT}/positions/BTCUSDT/close")
        orders = (await http.get(f"{ACCOUNT}/orders", params={"symbol": "BTCUSDT"})).json()
        fills = (await http.get(f"{ACCOUNT}/fills", params={"symbol": "BTCUSDT"})).json()
        events = (await http.get(f"{ACCOUNT}/events", params={"type": "position.adopted"})).json()

    assert position["side"] == "long"
    assert position["protected"] is True
    assert position["thesis"]["rationale"] == "adopted at startup"
    assert cancelled.status_code == 200
    btc = [p for p in unprotected if p["symbol"] == "BTCUSDT"]
    assert btc[0]["protected"] is False
    assert [p["protected"] for p in rearmed if p["symbol"] == "BTCUSDT"] == [True]
    assert closed.status_code == 200
    assert "BTCUSDT" not in [p["symbol"] for p in after]
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"
    close = next(o for o in orders["items"] if o["purpose"] == "close")
    assert close["reduce_only"] is True
    assert close["status"] == "FILLED"
    assert any(f["order_id"] == close["id"] for f in fills["items"])
    assert [e["type"] for e in events["items"]] == ["position.adopted"]


async def test_llm_calls_events_and_performance_read(service: RunningService) -> None:
    async with service.client(READ) as http:
        calls = (await http.get(f"{ACCOUNT}/llm-calls")).json()
        performance = await http.get(f"{ACCOUNT}/performance", params={"bucket": "1h"})
        bad_bucket = await http.get(f"{ACCOUNT}/performance", params={"bucket": "7h"})

    assert calls["totals"]["calls"] == len(calls["items"])
    assert calls["items"] == []  # the rules provider calls no LLM
    assert calls["totals"]["prompt_tokens"] == 0
    assert Decimal(calls["totals"]["cost_usd"]) == 0
    assert performance.status_code == 200
    body = performance.json()
    assert body["decisions"] >= 1
    assert body["curve"]
    assert Decimal(body["llm_cost_usd"]) == 0
    assert bad_bucket.status_code == 422
    assert bad_bucket.json()["error"] == "invalid_range"


async def test_a_cached_answer_still_needs_a_valid_token(service: RunningService) -> None:
    async with service.client(READ) as reader, service.client("wrong-token") as wrong:
        first = await reader.get(f"{ACCOUNT}/decisions")
        cached = await reader.get(f"{ACCOUNT}/decisions")
        refused = await wrong.get(f"{ACCOUNT}/decisions")
    async with service.client() as anonymous:
        anonymous_answer = await anonymous.get(f"{ACCOUNT}/decisions")

    assert first.status_code == cached.status_code == 200
    assert cached.content == first.content
    assert refused.status_code == 401
    assert anonymous_answer.status_code == 401


async def test_every_error_has_one_shape(service: RunningService) -> None:
    async with service.client(FULL) as http:
        responses = {
            "cursor": await http.get(f"{ACCOUNT}/orders", params={"cursor": "nonsense"}),
            "naive time": await http.get(f"{ACCOUNT}/fills", params={"start": "2026-01-01T00:00"}),
            "account": await http.get("/api/v1/accounts/nobody/orders"),
            "decision": await http.get(f"{ACCOUNT}/decisions/{uuid.uuid4()}"),
            "limit": await http.get(f"{ACCOUNT}/decisions", params={"limit": 0}),
            "route": await http.get("/api/v1/nothing-here"),
        }

    codes = {name: (r.status_code, r.json()["error"]) for name, r in responses.items()}
    assert codes == {
        "cursor": (422, "invalid_cursor"),
        "naive time": (422, "validation_error"),
        "account": (404, "unknown_account"),
        "decision": (404, "not_found"),
        "limit": (422, "validation_error"),
        "route": (404, "not_found"),
    }
    assert all(set(r.json()) == {"error", "detail"} for r in responses.values())


async def test_config_is_redacted_and_live_safe_fields_patch(service: RunningService) -> None:
    async with service.client(READ) as reader, service.client(FULL) as admin:
        config = await reader.get("/api/v1/config")
        refused = await reader.patch("/api/v1/config", json={"LEVERAGE": "3"})
        not_live = await admin.patch("/api/v1/config", json={"DATABASE_URL": "sqlite://"})
        invalid = await admin.patch("/api/v1/config", json={"LEVERAGE": "0"})
        # Tighter than the environment's LEVERAGE (2): looser would need an environment change.
        applied = await admin.patch("/api/v1/config", json={"LEVERAGE": "1.5", "ASSETS": "BTC,ETH"})
        await cycle(admin)
        after = (await reader.get("/api/v1/config")).json()

    assert config.status_code == 200
    assert config.json()["variables"]["API_TOKEN"] == "********"
    assert FULL not in config.text
    assert READ not in config.text
    assert "postgres" in config.json()["variables"]["DATABASE_URL"]
    assert refused.status_code == 403
    assert not_live.status_code == 422
    assert "DATABASE_URL" in not_live.json()["detail"]
    assert invalid.status_code == 422
    assert invalid.json()["error"] == "config_invalid"
    assert "LEVERAGE" in invalid.json()["detail"]
    assert applied.status_code == 200
    assert sorted(applied.json()["applied"]) == ["ASSETS", "LEVERAGE"]
    assert after["overrides"] == ["ASSETS", "LEVERAGE"]
    loop = service.container.supervisor.loop(AccountId("default"))
    assert loop is not None
    assert loop.config.limits.max_leverage == Decimal("1.5")
    assert set(loop.config.symbols) == {"BTC", "ETH"}


async def test_a_cycle_streams_its_events_in_order(service: RunningService) -> None:
    channels = [
        *(f"account.default.{topic}" for topic in ("decisions", "equity", "events", "positions")),
        "market.BTCUSDT.1h",
    ]
    async with connect(
        service.ws_url, additional_headers={"Authorization": f"Bearer {READ}"}
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channels": channels}))
        first = [json.loads(await ws.recv()) for _ in range(1 + len(channels))]
        assert first[0]["type"] == "subscribed"
        snapshots = {m["channel"]: m["data"] for m in first[1:] if m["type"] == "snapshot"}
        assert set(snapshots) == set(channels)
        assert Decimal(snapshots["account.default.equity"]["equity"]) > 0
        assert snapshots["account.default.decisions"][0]["account_id"] == "default"
        assert snapshots["market.BTCUSDT.1h"]["symbol"] == "BTCUSDT"
        assert isinstance(snapshots["account.default.positions"], list)
        async with service.client(FULL) as http:
            await cycle(http)
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while not any(m.get("event") == "equity.tick" for m in received):
                received.append(json.loads(await ws.recv()))

    events = [m for m in received if m["type"] == "event"]
    names = [m["event"] for m in events]
    proposed = [m["data"]["symbol"] for m in events if m["event"] == "decision.proposed"]
    assert sorted(proposed) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert names.index("decision.proposed") < names.index("equity.tick")  # the cycle's order
    for channel in channels:
        seqs = [m["seq"] for m in events if m["channel"] == channel]
        if seqs:  # per channel: consecutive, no gap, no duplicate
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
