"""PostgreSQL unreachable: 503 ``database_unavailable``, a few log lines, recovery on its own.

The service talks to the real PostgreSQL through a loopback TCP proxy; cutting the proxy
resets the open connections and refuses new ones, as a crashed server or a dropped network
path would, and restoring it brings the same server back on the same address.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, ProgrammingError
from websockets.asyncio.client import ClientConnection, connect

from app.api.deps import ContainerDep
from app.config._values import normalise_database_url
from app.core.errors import DatabaseUnavailable, MigrationError
from app.db.engine import CONNECT_TIMEOUT_S, create_engine
from app.db.errors import OutageLog, database_unavailable, is_connection_error
from app.db.session import SessionFactory, create_session_factory, session_scope
from app.runtime.container import RuntimeOptions
from app.streaming.messages import (
    SERVER_MESSAGES,
    ErrorMessage,
    PongMessage,
    ServerMessage,
    SnapshotMessage,
    SubscribedMessage,
)
from tests.fakes.tcp_proxy import TcpProxy
from tests.service import RunningService, serve

pytestmark = pytest.mark.postgres
FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
ACCOUNT = "/api/v1/accounts/default"
JOURNAL = [f"{ACCOUNT}/{name}" for name in ("fills", "events", "orders", "decisions")]
DEADLINE_S = 10.0
# Where a request's failure is logged: the API's handlers, the database helpers, the server.
REQUEST_LOGGERS = ("app.api", "app.db", "uvicorn", "fastapi", "starlette")


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


def service_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, *, agents: bool
) -> None:
    for name, value in {
        "DATABASE_URL": database_url,
        "AGENTS_ENABLED": "true" if agents else "false",
        "API_TOKEN": FULL,
        "API_READ_TOKEN": READ,
        "REPLAY_SPEED": "1",  # one cycle at startup, the rest when a test asks
        "CONFIG_WATCH_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)


async def until_status(
    request: Callable[[], Awaitable[httpx.Response]], status: int
) -> httpx.Response:
    """Repeat ``request`` until it answers ``status`` (the last answer at the deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        response = await request()
        if response.status_code == status or loop.time() > deadline:
            return response
        await asyncio.sleep(0.05)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and r.name.startswith(REQUEST_LOGGERS)]


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(REQUEST_LOGGERS)
    ]


async def test_journal_reads_answer_503_while_the_database_is_down_and_200_once_it_is_back(
    proxy: TcpProxy,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service_environment(monkeypatch, proxy.url_for(postgres_url), agents=False)
    async with serve() as service, service.client(READ) as http:
        before = [(await http.get(path)).status_code for path in JOURNAL]  # cached, too
        caplog.set_level(logging.INFO)
        caplog.clear()
        await proxy.cut()
        # A cached answer may be served until the read cache's TTL passes; then 503.
        down = [await until_status(partial(http.get, path), 503) for path in JOURNAL]
        again = [(await http.get(path)) for _ in range(5) for path in JOURNAL]
        ready_down = await http.get("/ready")
        outage_tracebacks, outage_warnings = tracebacks(caplog), warnings(caplog)
        await proxy.restore()
        up = [await until_status(partial(http.get, path), 200) for path in JOURNAL]
        ready_up = await http.get("/ready")

    assert before == [200, 200, 200, 200]
    for response in [*down, *again]:
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["error"] == "database_unavailable"
        assert body["detail"] == "database unavailable: connection refused (ConnectionRefusedError)"
    assert ready_down.status_code == 503
    assert ready_down.json()["status"] == "not_ready"
    assert ready_down.json()["database"]["reachable"] is False
    assert ready_down.json()["database"]["error"].startswith("database unreachable: connection")
    assert outage_tracebacks == []
    # 25 failed requests and a probe: one line, not one per request.
    assert len(outage_warnings) == 1, outage_warnings
    assert outage_warnings[0].startswith("database unavailable (connection refused")
    assert [r.status_code for r in up] == [200, 200, 200, 200]
    assert ready_up.status_code == 200, ready_up.text  # the same engine, no restart
    assert ready_up.json()["database"]["reachable"] is True
    assert any(r.getMessage().startswith("database back after") for r in caplog.records)


@pytest.fixture
async def trading_service(
    proxy: TcpProxy, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    service_environment(monkeypatch, proxy.url_for(postgres_url), agents=True)
    async with serve(RuntimeOptions(replay=True)) as running:
        async with running.client(READ) as http:
            decided = await until_status(lambda: http.get(f"{ACCOUNT}/decisions"), 200)
            assert decided.status_code == 200
        yield running


async def test_a_cycle_asked_for_while_the_database_is_down_is_not_an_internal_error(
    proxy: TcpProxy, trading_service: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    async with trading_service.client(FULL) as http:
        caplog.clear()
        await proxy.cut()
        cycle = await http.post(f"{ACCOUNT}/agent/cycle")
        failure_tracebacks = tracebacks(caplog)
        await proxy.restore()
        ready = await until_status(lambda: http.get("/ready"), 200)

    # The loop may hold the outage itself (200); when it reaches the API it is a 503.
    assert cycle.status_code in (200, 503), cycle.text
    if cycle.status_code == 503:
        assert cycle.json()["error"] == "database_unavailable"
    assert failure_tracebacks == []
    assert ready.status_code == 200


async def receive(ws: ClientConnection) -> ServerMessage:
    async with asyncio.timeout(5):
        return SERVER_MESSAGES.validate_json(await ws.recv())


async def test_a_subscription_while_the_database_is_down_gets_an_error_not_a_dead_server(
    proxy: TcpProxy,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service_environment(monkeypatch, proxy.url_for(postgres_url), agents=False)
    headers = {"Authorization": f"Bearer {READ}"}
    async with serve() as service, connect(service.ws_url, additional_headers=headers) as ws:
        await proxy.cut()
        await ws.send('{"type": "subscribe", "channels": ["account.default.fills"]}')
        subscribed, failed = await receive(ws), await receive(ws)
        await ws.send('{"type": "ping"}')
        pong = await receive(ws)
        await proxy.restore()
        await ws.send('{"type": "subscribe", "channels": ["account.default.events"]}')
        resubscribed, snapshot = await receive(ws), await receive(ws)

    assert isinstance(subscribed, SubscribedMessage)
    assert isinstance(failed, ErrorMessage)
    assert failed.error == "snapshot_unavailable"
    # One line saying why, not a traceback per subscribe.
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert isinstance(pong, PongMessage)
    assert isinstance(resubscribed, SubscribedMessage)
    assert isinstance(snapshot, SnapshotMessage)
    assert snapshot.data == []


def raw_database_routes(app: FastAPI) -> None:
    """Routes that reach the engine without ``session_scope``: nothing translates for them."""

    async def ping(container: ContainerDep) -> dict[str, int]:
        async with container.engine.connect() as connection:
            return {"one": (await connection.execute(text("SELECT 1"))).scalar_one()}

    async def typo(container: ContainerDep) -> dict[str, int]:
        async with container.engine.connect() as connection:
            await connection.execute(text("SELEC 1"))
        return {}

    app.add_api_route("/test/raw-ping", ping)
    app.add_api_route("/test/raw-typo", typo)


async def test_a_driver_error_that_escapes_untranslated_is_a_503_only_for_connections(
    proxy: TcpProxy,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service_environment(monkeypatch, proxy.url_for(postgres_url), agents=False)
    async with serve(configure=raw_database_routes) as service, service.client() as http:
        typo = await http.get("/test/raw-typo")
        caplog.clear()
        await proxy.cut()
        refused = await http.get("/test/raw-ping")
        refused_tracebacks = tracebacks(caplog)
        await proxy.restore()
        back = await until_status(lambda: http.get("/test/raw-ping"), 200)

    assert typo.status_code == 500  # a bad statement is a bug, not an outage
    assert typo.json() == {"error": "internal_error", "detail": "internal server error"}
    assert refused.status_code == 503
    assert refused.json() == {
        "error": "database_unavailable",
        "detail": "database unavailable: connection refused (ConnectionRefusedError)",
    }
    assert refused_tracebacks == []
    assert back.json() == {"one": 1}


async def run(sessions: SessionFactory, *statements: str) -> None:
    """Execute ``statements`` in one unit of work."""
    async with session_scope(sessions) as session:
        for statement in statements:
            await session.execute(text(statement))


async def run_across_a_cut(sessions: SessionFactory, proxy: TcpProxy) -> None:
    """A unit of work whose connection is reset between two statements."""
    async with session_scope(sessions) as session:
        await session.execute(text("SELECT 1"))
        await proxy.cut()
        await session.execute(text("SELECT 1"))


async def migrate_on_a_refused_connection() -> None:
    """What a migration that lost its database reports: a MigrationError, from the refusal."""
    try:
        await asyncpg.connect(host="127.0.0.1", port=await closed_port(), timeout=5)
    except OSError as exc:
        raise MigrationError("database migration failed") from exc


async def test_errors_of_the_query_or_the_data_are_not_connection_errors(
    postgres_url: str,
) -> None:
    engine = create_engine(normalise_database_url(postgres_url))
    sessions = create_session_factory(engine)
    url = make_url(postgres_url)
    try:
        with pytest.raises(IntegrityError) as unique:
            await run(
                sessions,
                "CREATE TEMP TABLE seen (id int PRIMARY KEY)",
                "INSERT INTO seen VALUES (1), (1)",
            )
        with pytest.raises(ProgrammingError) as syntax:
            await run(sessions, "SELEC 1")
    finally:
        await engine.dispose()
    with pytest.raises(asyncpg.InvalidCatalogNameError) as no_database:
        await asyncpg.connect(host=url.host, port=url.port, user=url.username, database="nope")
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError) as http_refused:
            await http.get(f"http://127.0.0.1:{await closed_port()}/")
    with pytest.raises(MigrationError) as migration:
        await migrate_on_a_refused_connection()

    # Violations and typos stay what they are: the agent must not wait them out.
    assert not is_connection_error(unique.value)
    assert not is_connection_error(syntax.value)
    assert not is_connection_error(no_database.value)  # a configuration problem
    assert not is_connection_error(http_refused.value)  # refused, but not by the database
    assert not is_connection_error(migration.value)


async def test_refused_lost_and_timed_out_connections_are_connection_errors(
    proxy: TcpProxy, postgres_url: str
) -> None:
    engine = create_engine(normalise_database_url(proxy.url_for(postgres_url)))
    sessions = create_session_factory(engine)
    try:
        with pytest.raises(DatabaseUnavailable) as lost:
            await run_across_a_cut(sessions, proxy)
        with pytest.raises(DatabaseUnavailable) as refused:
            await run(sessions, "SELECT 1")
        with pytest.raises(ConnectionRefusedError) as raw_refused:
            await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="postgres", timeout=5)
        await proxy.restore()
        await run(sessions, "SELECT 1")  # the same engine, once the path is back
    finally:
        await engine.dispose()
    raw = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="postgres", timeout=5)
    await proxy.cut()
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)) as dead:
        await raw.fetchval("SELECT 1")
    raw.terminate()
    async with silent_server() as port:
        with pytest.raises(TimeoutError) as timed_out:
            await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", timeout=0.2)

    assert isinstance(lost.value.__cause__, Exception)
    assert is_connection_error(lost.value.__cause__)
    assert lost.value.detail.startswith("database unavailable: connection lost")
    assert refused.value.detail == (
        "database unavailable: connection refused (ConnectionRefusedError)"
    )
    assert isinstance(refused.value.__cause__, ConnectionRefusedError)
    assert is_connection_error(raw_refused.value)
    assert is_connection_error(dead.value)
    assert is_connection_error(timed_out.value)
    assert database_unavailable(timed_out.value).detail == (
        "database unavailable: timed out (TimeoutError)"
    )


async def closed_port() -> int:
    """A loopback port nothing listens on (it was bound and released)."""
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback server (its port) that accepts connections and never says a word."""
    writers: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def test_an_outage_is_logged_once_then_now_and_then_then_once_more_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    log = OutageLog(every_s=60.0, monotonic=lambda: now[0])
    refused = ConnectionRefusedError(111, "Connect call failed")
    caplog.set_level(logging.INFO, logger="app.db.errors")

    for second in range(0, 150):  # a failure a second for two and a half minutes
        now[0] = float(second)
        log.failed(refused)
    down = log.down
    now[0] = 151.0
    log.succeeded()
    log.succeeded()  # nothing more to say

    lines = [r.getMessage() for r in caplog.records]
    assert down is True
    assert log.down is False
    assert len(lines) == 4, lines
    assert lines[0].startswith("database unavailable (connection refused")
    assert lines[1].startswith("database still unavailable after 60 s")
    assert lines[2].startswith("database still unavailable after 120 s")
    assert lines[3] == "database back after 151.0 s (150 failures meanwhile)"
    assert all(not r.exc_info for r in caplog.records)


async def test_a_database_host_that_never_answers_is_an_outage_within_seconds() -> None:
    """A black hole (connects, never speaks) is reported as an outage after the connect
    timeout, not after asyncpg's 60 s default: the agent re-checks protection meanwhile."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(DatabaseUnavailable):
            async with session_scope(create_session_factory(engine)) as session:
                await session.execute(text("SELECT 1"))
        waited = loop.time() - started
    finally:
        await engine.dispose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert CONNECT_TIMEOUT_S <= waited < CONNECT_TIMEOUT_S + 5
