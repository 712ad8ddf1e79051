"""Every route under the token rules: no token, a wrong one, the read token, the full token.

The route list comes from the app itself, so a new endpoint is covered the day it lands.
"""

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.service import RunningService, serve

FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
PATH_VALUES = {
    "account_id": "default",
    "decision_id": str(uuid.uuid4()),
    "symbol": "BTCUSDT",
    "client_order_id": "ta-matrix-1",
    "action": "pause",
    "run_id": f"backtest-{uuid.uuid4()}",
}
OPEN = {"/health", "/ready", "/docs", "/openapi.json", "/redoc"}


@pytest.fixture
async def service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningService]:
    monkeypatch.setenv("API_TOKEN", FULL)
    monkeypatch.setenv("API_READ_TOKEN", READ)
    monkeypatch.setenv("CORS_ORIGINS", "http://dashboard.test")
    async with serve() as running:
        yield running


def endpoints(service: RunningService) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI description under /api/v1, parameters filled."""
    found = []
    for template, operations in service.app.openapi()["paths"].items():
        if template.startswith("/api/v1"):
            path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], template)
            found += [(method.upper(), path) for method in sorted(operations)]
    return found


async def test_every_api_route_needs_a_token_and_writes_need_the_full_one(
    service: RunningService,
) -> None:
    routes = endpoints(service)
    assert len(routes) >= 20
    results: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    async with (
        service.client() as anonymous,
        service.client("not-a-valid-token") as wrong,
        service.client(READ) as reader,
        service.client(FULL) as admin,
    ):
        for method, path in routes:
            body: dict[str, str] | None = {} if method in {"POST", "PATCH"} else None
            statuses = [
                (await http.request(method, path, json=body)).status_code
                for http in (anonymous, wrong, reader)
            ]
            results[(method, path)] = (*statuses, 0)  # type: ignore[assignment]
        # The full token last: it may halt agents or change the configuration.
        for method, path in routes:
            body = {"LEVERAGE": "2"} if method == "PATCH" else ({} if method == "POST" else None)
            status = (await admin.request(method, path, json=body)).status_code
            results[(method, path)] = (*results[(method, path)][:3], status)

    for (method, path), (none, bad, read, full) in results.items():
        assert none == 401, (method, path)
        assert bad == 401, (method, path)
        if method == "GET":
            assert read not in {401, 403}, (method, path, read)
        else:
            assert read == 403, (method, path, read)
        assert full not in {401, 403}, (method, path, full)
        assert full < 500, (method, path, full)


async def test_probes_and_docs_stay_open(service: RunningService) -> None:
    async with service.client() as anonymous:
        statuses = {path: (await anonymous.get(path)).status_code for path in sorted(OPEN)}
    assert statuses == dict.fromkeys(sorted(OPEN), 200)


async def refused_code(service: RunningService, headers: dict[str, str]) -> int | None:
    """Connect, try to subscribe, and return the close code the server answered with."""
    try:
        async with connect(service.ws_url, additional_headers=headers) as ws:
            await ws.send('{"type": "subscribe", "channels": ["account.default.orders"]}')
            for _ in range(5):
                message = str(await ws.recv())
                assert "not authenticated" in message.replace("_", " ")
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


async def test_the_websocket_needs_a_valid_token(service: RunningService) -> None:
    refused = [await refused_code(service, headers) for headers in ({}, {"Authorization": "x"})]
    assert refused == [4401, 4401]
    for token in (READ, FULL):
        async with connect(
            service.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.send('{"type": "ping"}')
            assert '"pong"' in await ws.recv()


async def test_cors_allows_only_the_configured_origins(service: RunningService) -> None:
    async with service.client() as http:
        allowed = await http.options(
            "/api/v1/status",
            headers={"Origin": "http://dashboard.test", "Access-Control-Request-Method": "GET"},
        )
        other = await http.options(
            "/api/v1/status",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
        )
    assert allowed.headers["access-control-allow-origin"] == "http://dashboard.test"
    assert "access-control-allow-origin" not in other.headers


async def test_without_cors_origins_no_cross_origin_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", FULL)
    async with serve() as running, running.client() as http:
        response = await http.get(
            "/api/v1/status",
            headers={"Origin": "http://dashboard.test", "Authorization": f"Bearer {FULL}"},
        )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
