"""A secret an upstream error repeats is never stored or served.

OpenRouter answers 401 ``User not found for key <the key>``: the service falls back to the
rules and journals why. The key must appear nowhere in the database, in no API answer (to
either token) and in no WebSocket message; the journal keeps the message with the key masked.
"""

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from app.runtime.container import RuntimeOptions
from tests.fakes.openrouter import ChatRequest, FakeOpenRouter, Reply
from tests.service import RunningService, serve
from tests.waiting import until

pytestmark = pytest.mark.postgres
FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
# Not shaped like an OpenRouter key (``sk-or-...``), so only the registry of configured
# secrets can mask it.
LLM_KEY = "llm-key-7f3a9c0d5e1b2468ace0"
ACCOUNT = "/api/v1/accounts/default"
CHANNELS = [
    f"account.default.{topic}"
    for topic in ("decisions", "orders", "fills", "positions", "equity", "events")
]


def refuse_and_repeat_the_key(request: ChatRequest) -> Reply:
    return Reply.error(401, f"User not found for key {LLM_KEY}")


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    async with FakeOpenRouter(api_keys=(LLM_KEY,)) as router:
        router.default_reply = refuse_and_repeat_the_key
        for name, value in {
            "DATABASE_URL": postgres_url,
            "AGENTS_ENABLED": "true",
            "API_TOKEN": FULL,
            "API_READ_TOKEN": READ,
            "OPENROUTER_API_KEY": LLM_KEY,
            "OPENROUTER_BASE_URL": router.base_url,
            "REPLAY_SPEED": "1",  # one cycle at startup, the next when the test asks
            "CONFIG_WATCH_ENABLED": "false",
        }.items():
            monkeypatch.setenv(name, value)
        async with serve(RuntimeOptions(replay=True)) as running:
            yield running


async def drain(ws: ClientConnection, into: list[str]) -> None:
    """Keep every message the socket receives, as sent."""
    async for message in ws:
        into.append(message if isinstance(message, str) else message.decode())


async def api_answers(service: RunningService, token: str) -> list[str]:
    """Every read a dashboard makes about the account's decisions, events and calls."""
    async with service.client(token) as http:
        decisions = await http.get(f"{ACCOUNT}/decisions", params={"limit": 500})
        answers = [
            decisions,
            await http.get("/api/v1/status"),
            await http.get(ACCOUNT),
            await http.get(f"{ACCOUNT}/events", params={"limit": 500}),
            await http.get(f"{ACCOUNT}/llm-calls", params={"limit": 500}),
            await http.get(f"{ACCOUNT}/orders", params={"limit": 500}),
            await http.get("/api/v1/config"),
        ]
        for decision in decisions.json()["items"]:
            answers.append(await http.get(f"{ACCOUNT}/decisions/{decision['id']}"))
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    return [a.text for a in answers]


async def database_dump(url: str) -> list[str]:
    """Every row of every table (all schemas but the system's), each cast to text."""
    connection = await asyncpg.connect(url)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows: list[str] = []
        for table in tables:
            name = f'"{table["table_schema"]}"."{table["table_name"]}"'
            rows.extend(r[0] for r in await connection.fetch(f"SELECT t::text FROM {name} t"))
        return rows
    finally:
        await connection.close()


async def test_a_key_repeated_by_openrouter_is_masked_everywhere(
    service: RunningService, postgres_url: str
) -> None:
    received: list[str] = []
    async with (
        service.client(FULL) as admin,
        connect(service.ws_url, additional_headers={"Authorization": f"Bearer {FULL}"}) as full,
        connect(service.ws_url, additional_headers={"Authorization": f"Bearer {READ}"}) as read,
        asyncio.TaskGroup() as readers,
    ):
        for ws in (full, read):
            await ws.send(json.dumps({"type": "subscribe", "channels": CHANNELS}))
            readers.create_task(drain(ws, received))
        cycle = await admin.post(f"{ACCOUNT}/agent/cycle")
        # The cycle's refusal reaches both sockets as an event.
        await until(
            lambda: sum('"llm.auth_failed"' in m and '"event"' in m for m in received) >= 2,
            "the refusal on both sockets",
        )
        await full.close()
        await read.close()

    answers = [*await api_answers(service, FULL), *await api_answers(service, READ)]
    async with service.client(READ) as http:  # an error detail that repeats what was sent
        unknown = await http.get(f"/api/v1/accounts/{LLM_KEY}/orders")
    rows = await database_dump(postgres_url)

    assert cycle.status_code == 200, cycle.text
    assert LLM_KEY not in "\n".join(received)
    assert LLM_KEY not in "\n".join(answers)
    assert unknown.json() == {"error": "unknown_account", "detail": "no account '***'"}
    assert not [row for row in rows if LLM_KEY in row]
    # Masked, not dropped: the operator still learns that OpenRouter refused the key.
    refusals = [row for row in rows if "User not found for key ***" in row]
    assert any("llm.auth_failed" in row for row in refusals)  # agent_events
    assert any("rules provider decided" in row for row in refusals)  # decisions.parsed
    assert any("User not found for key ***" in answer for answer in answers)
