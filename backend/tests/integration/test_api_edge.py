"""The API's edge over real HTTP: the token is checked before anything else, bodies are
capped, times without a UTC equivalent and misspelt body fields are refused (never a 500,
never a silent default)."""

import asyncio
import base64
import json
import resource
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.main import create_app
from tests.service import RunningService, serve

pytestmark = pytest.mark.postgres
FULL = "full-token-0123456789abcdef-0123456789"
READ = "read-token-0123456789abcdef-0123456789"
MIB = 1024 * 1024
KILL = "/api/v1/accounts/default/kill"
AGENT = "/api/v1/accounts/default/agent"
# Fixed ids (unknown to a fresh database): parallel workers must collect the same test names.
PATH_VALUES = {
    "decision_id": "0e1d2c3b-4a59-4687-9a6b-5c4d3e2f1a00",
    "symbol": "BTCUSDT",
    "client_order_id": "ta-edge-1",
    "action": "pause",
    "run_id": "backtest-1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
}
# Valid datetimes with no UTC equivalent (year 0 and year 10000 once converted).
EDGE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    for name, value in {
        "DATABASE_URL": postgres_url,
        "API_TOKEN": FULL,
        "API_READ_TOKEN": READ,
        "CONFIG_WATCH_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    async with serve() as running:
        yield running


async def agent_state(service: RunningService) -> str:
    async with service.client(READ) as http:
        state: str = (await http.get(AGENT)).json()["state"]
    return state


JSON = {"Content-Type": "application/json"}


def padded_kill(size: int) -> bytes:
    """A valid kill body (flatten everything) of exactly ``size`` bytes."""
    body = b'{"flatten": true, "reason": "edge test"}'
    return body + b" " * (size - len(body))


async def chunks(total: int, size: int = MIB) -> AsyncIterator[bytes]:
    """``total`` bytes as a chunked upload, without the client holding them."""
    chunk = b" " * size
    for _ in range(total // size):
        yield chunk


# --- the token before the body ------------------------------------------------------------


async def test_a_large_body_without_a_valid_token_is_refused_for_the_token(
    service: RunningService,
) -> None:
    junk = b"{" * (20 * MIB)  # not JSON, and far over the cap
    async with service.client() as anonymous, service.client(READ) as reader:
        none = await anonymous.post(KILL, content=junk, headers=JSON)
        read = await reader.post(KILL, content=junk, headers=JSON)

    assert none.status_code == 401
    assert none.json() == {
        "error": "not_authenticated",
        "detail": "send 'Authorization: Bearer <token>'",
    }
    assert read.status_code == 403
    assert read.json() == {"error": "forbidden", "detail": "this token may only read"}
    assert await agent_state(service) != "halted"


async def test_parallel_anonymous_uploads_are_not_held_in_memory(service: RunningService) -> None:
    # The service runs in this process: sample its resident memory while 8 x 32 MiB arrive.
    # Buffering them (what happened before the token was checked first) costs 256 MiB+.
    page = resource.getpagesize()
    statm = Path("/proc/self/statm")

    def resident() -> int:
        return int(statm.read_text().split()[1]) * page

    baseline, peak = resident(), 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    async with service.client() as anonymous:
        answers = await asyncio.gather(
            *(anonymous.post(KILL, content=chunks(32 * MIB)) for _ in range(8))
        )
    done.set()
    await sampler

    assert [a.status_code for a in answers] == [401] * 8
    assert peak - baseline < 64 * MIB


# --- the body cap -------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_and_changes_nothing(
    service: RunningService,
) -> None:
    async with service.client(FULL) as admin:
        declared = await admin.post(KILL, content=padded_kill(2 * MIB), headers=JSON)
        streamed = await admin.post(KILL, content=chunks(4 * MIB))

    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json() == {
            "error": "body_too_large",
            "detail": "the request body is larger than 1048576 bytes",
        }
    assert await agent_state(service) != "halted"


async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_cap(
    service: RunningService,
) -> None:
    url = urlsplit(service.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(
        f"POST {KILL} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {FULL}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    head = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    chunk, sent = b" " * 65536, 0
    # The body never ends: only a refusal while it streams stops this loop early.
    while not head.done() and sent < 64 * MIB:
        try:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        except ConnectionError:
            break
        sent += len(chunk)
        await asyncio.wait({head}, timeout=0.01)
    status_line, *header_lines = (await head).decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines if line)
    body = await reader.readexactly(int(headers["content-length"]))
    writer.close()

    assert status_line.startswith("HTTP/1.1 413 ")
    assert json.loads(body)["error"] == "body_too_large"
    assert sent < 4 * MIB  # the cap is 1 MiB; the rest was never waited for


async def test_api_max_body_bytes_sets_the_cap(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DATABASE_URL": postgres_url,
        "API_TOKEN": FULL,
        "API_MAX_BODY_BYTES": "2048",
    }.items():
        monkeypatch.setenv(name, value)
    async with serve() as running, running.client(FULL) as admin:
        over = await admin.post(KILL, content=padded_kill(3000), headers=JSON)
        state_after_refusal = (await admin.get(AGENT)).json()["state"]
        under = await admin.post(KILL, content=padded_kill(2000), headers=JSON)

    assert over.status_code == 413
    assert over.json()["detail"] == "the request body is larger than 2048 bytes"
    assert state_after_refusal != "halted"
    assert under.status_code == 200, under.text
    assert under.json()["state"] == "halted"


# --- no probing without a token ---------------------------------------------------------


def api_routes(service: RunningService, account: str) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1 the app describes, parameters filled.

    The app's own description, so a route added later is covered the day it lands.
    """
    values = {**PATH_VALUES, "account_id": account}
    found = []
    for template, operations in service.app.openapi()["paths"].items():
        if template.startswith("/api/v1"):
            path = template.format(**values)
            found += [(method.upper(), path) for method in sorted(operations)]
    return found


async def test_a_made_up_account_answers_exactly_like_a_real_one_without_a_token(
    service: RunningService,
) -> None:
    ghost, real = api_routes(service, "ghost"), api_routes(service, "default")
    assert len(ghost) >= 20
    answers: dict[str, list[tuple[int, Any]]] = {"ghost": [], "default": [], "read": []}
    async with service.client() as anonymous, service.client(READ) as reader:
        for (method, ghost_path), (_, real_path) in zip(ghost, real, strict=True):
            body = {"flatten": True} if method in {"POST", "PATCH"} else None
            for name, path in (("ghost", ghost_path), ("default", real_path)):
                answer = await anonymous.request(method, path, json=body)
                answers[name].append((answer.status_code, answer.json()))
            if method != "GET":
                answer = await reader.request(method, ghost_path, json=body)
                answers["read"].append((answer.status_code, answer.json()["error"]))

    refused = (
        401,
        {"error": "not_authenticated", "detail": "send 'Authorization: Bearer <token>'"},
    )
    assert answers["ghost"] == [refused] * len(ghost)
    assert answers["default"] == answers["ghost"]
    assert set(answers["read"]) == {(403, "forbidden")}
    assert await agent_state(service) != "halted"


# --- times without a UTC equivalent --------------------------------------------------------


def _time_parameters() -> list[tuple[str, tuple[str, ...]]]:
    """Each /api/v1 GET path that takes a time (or a cursor, which holds one), with those names."""
    found = []
    for path, operations in create_app().openapi()["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        names = tuple(
            p["name"]
            for p in parameters
            if p["in"] == "query"
            and ("date-time" in json.dumps(p["schema"]) or p["name"] == "cursor")
        )
        if path.startswith("/api/v1") and names:
            found.append((path.format(**{**PATH_VALUES, "account_id": "default"}), names))
    return found


TIME_ROUTES = _time_parameters()


def cursor_at(moment: str) -> str:
    """A cursor as the service encodes one, pointing at ``moment``."""
    raw = f"{moment}|{uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_every_route_with_a_time_is_covered() -> None:
    assert len(TIME_ROUTES) >= 8
    assert {name for _, names in TIME_ROUTES for name in names} == {"start", "end", "at", "cursor"}


@pytest.mark.parametrize(("path", "names"), TIME_ROUTES, ids=[p for p, _ in TIME_ROUTES])
async def test_a_time_with_no_utc_equivalent_is_a_422(
    service: RunningService, path: str, names: tuple[str, ...]
) -> None:
    answers = []
    async with service.client(READ) as http:
        for name in names:
            for moment in EDGE_TIMES:
                value = cursor_at(moment) if name == "cursor" else moment
                answer = await http.get(path, params={name: value})
                answers.append((name, answer.status_code, answer.json()["error"]))

    expected = [
        (name, 422, "invalid_cursor" if name == "cursor" else "validation_error")
        for name in names
        for _ in EDGE_TIMES
    ]
    assert answers == expected


# --- misspelt body fields ---------------------------------------------------------------


async def test_a_misspelt_kill_option_is_refused_and_nothing_is_halted(
    service: RunningService,
) -> None:
    async with service.client(FULL) as admin:
        one = await admin.post(KILL, json={"flaten": True})
        every = await admin.post("/api/v1/kill", json={"flatten": True, "resaon": "typo"})
        close = await admin.post(
            "/api/v1/accounts/default/positions/BTCUSDT/close", json={"reasn": "typo"}
        )

    for answer, field in ((one, "flaten"), (every, "resaon"), (close, "reasn")):
        assert answer.status_code == 422
        assert answer.json()["error"] == "validation_error"
        assert field in answer.json()["detail"]
    assert await agent_state(service) != "halted"


async def test_a_correct_kill_body_still_halts(service: RunningService) -> None:
    async with service.client(FULL) as admin:
        answer = await admin.post(KILL, json={"flatten": True, "reason": "drill"})

    assert answer.status_code == 200, answer.text
    assert await agent_state(service) == "halted"
