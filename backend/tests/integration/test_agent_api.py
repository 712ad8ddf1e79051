"""The agent control endpoints: bearer tokens, read vs full access, clear errors."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import load_settings
from app.main import create_app

FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("API_TOKEN", FULL)
    monkeypatch.setenv("API_READ_TOKEN", READ)
    app = create_app(load_settings(use_default_env_file=False))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (bearer("wrong-token"), 401), (bearer(READ), 200), (bearer(FULL), 200)],
)
async def test_reading_the_agent_needs_a_token(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    response = await client.get("/api/v1/accounts/default/agent", headers=headers)

    assert response.status_code == status
    if status == 200:
        assert response.json()["state"] == "stopped"
        assert "AGENTS_ENABLED=false" in response.json()["detail"]
        assert response.json()["market_data"] == "none"
    else:
        assert response.json()["error"] == "not_authenticated"


async def test_changing_state_needs_the_full_token(client: httpx.AsyncClient) -> None:
    read = await client.post("/api/v1/accounts/default/agent/pause", headers=bearer(READ))
    full = await client.post("/api/v1/accounts/default/agent/start", headers=bearer(FULL))
    unknown = await client.post("/api/v1/accounts/nobody/kill", headers=bearer(FULL))
    bad = await client.post("/api/v1/accounts/default/agent/explode", headers=bearer(FULL))

    assert read.status_code == 403
    assert read.json() == {"error": "forbidden", "detail": "this token may only read"}
    assert full.status_code == 409  # the loops are off in this test
    assert unknown.status_code == 404
    assert bad.status_code == 422


async def test_the_global_kill_switch_halts_every_account(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/kill", headers=bearer(FULL), json={"flatten": False, "reason": "drill"}
    )
    after = await client.get("/api/v1/accounts/default/agent", headers=bearer(READ))

    assert response.status_code == 200
    assert [a["state"] for a in response.json()] == ["halted"]
    assert after.json()["state"] == "halted"
    assert FULL not in response.text


async def test_an_unreadable_body_and_a_wrong_method_answer_as_documented(
    client: httpx.AsyncClient,
) -> None:
    """docs/api.md: malformed JSON is a 422 ``validation_error``, a wrong method a 405."""
    unreadable = await client.post(
        "/api/v1/accounts/default/kill",
        headers={**bearer(FULL), "Content-Type": "application/json"},
        content=b'{"flatten": tru',
    )
    wrong_method = await client.delete("/api/v1/accounts/default/agent", headers=bearer(FULL))

    assert unreadable.status_code == 422
    assert unreadable.json()["error"] == "validation_error"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
