"""Shared fixtures: an isolated environment per test, and real PostgreSQL databases.

Every read of the session is watched (``tests.read_guard``): a test that opens a file beside
the repository instead of in it fails, and so does the run when such a read happens outside
any test (at import or in a session fixture).

PostgreSQL tests need the server at ``TEST_POSTGRES_URL`` (default: the local trust-auth
server). Without it they skip locally, but with ``CI=true`` a missing server fails them: CI
must never pass by skipping the database.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.config import ACCOUNT_VARIABLES, Settings
from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import create_session_factory
from tests.db import Database
from tests.read_guard import ReadGuard, default_guard, report, watch

DROPPERS = 16  # connections per test process dropping its databases at the end (of 100)
ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_OUR_VARIABLES = {name.upper() for name in Settings.model_fields} | {"ENV_FILE"}
_PER_ACCOUNT_PREFIXES = tuple(f"{v}_" for v in ACCOUNT_VARIABLES.values())
REPO_ROOT = Path(__file__).resolve().parents[2]
# The guard's own test runs a session guarding a stand-in repository in a temporary folder,
# so that proving a read beside it is caught never touches the real repository's siblings.
_OUTSIDE_READS = default_guard(Path(os.environ.get("READ_GUARD_REPOSITORY", REPO_ROOT)))
_reads_outside_tests: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Watch every read from here on (collection included) for files beside the repository."""
    stack = ExitStack()
    stack.enter_context(watch(_OUTSIDE_READS))
    config.add_cleanup(stack.close)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when something outside any test read beside the repository."""
    outside = _reads_outside_tests + _OUTSIDE_READS.take()
    worker_output: dict[str, object] | None = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a parallel worker: the controller reports for the run
        worker_output["reads_outside_tests"] = outside
        return
    if outside:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(report(outside), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Keep what a parallel worker saw read outside its tests (reported at the run's end)."""
    reads = getattr(node, "workeroutput", {}).get("reads_outside_tests", [])
    _reads_outside_tests.extend(str(read) for read in reads)


@pytest.fixture
def outside_reads() -> ReadGuard:
    """The session's guard (a test that reads beside the repository on purpose takes them)."""
    return _OUTSIDE_READS


@pytest.fixture(autouse=True)
def no_reads_outside_the_repository() -> Iterator[None]:
    """Fail the test that opened a file beside the repository (a clone does not have it)."""
    _reads_outside_tests.extend(_OUTSIDE_READS.take())  # before this test: the session's
    yield
    outside = _OUTSIDE_READS.take()
    if outside:
        pytest.fail(report(outside))


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the developer's shell or a .env; cwd is a fresh directory."""
    for name in list(os.environ):
        upper = name.upper()
        if upper in _OUR_VARIABLES or upper.startswith(_PER_ACCOUNT_PREFIXES):
            monkeypatch.delenv(name)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    # In-process app tests exercise the API; agent tests build their loops themselves.
    monkeypatch.setenv("AGENTS_ENABLED", "false")
    return workdir


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI but unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


async def _admin_connection() -> asyncpg.Connection:
    url = make_url(ADMIN_URL)
    try:
        return await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        _postgres_unavailable(f"{exc.__class__.__name__}: {exc}")
        raise  # unreachable: skip/fail raise


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them afterwards."""

    def __init__(self) -> None:
        self._created: list[str] = []
        self._migrated: str | None = None  # a database at the newest schema, to copy

    async def create(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; returns its ``postgresql://`` URL."""
        name = f"ta_test_{uuid.uuid4().hex[:12]}"
        connection = await _admin_connection()
        try:
            copy = f' TEMPLATE "{template}"' if template else ""
            await connection.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await connection.close()
        self._created.append(name)
        return self._url(name)

    async def migrated(self) -> str:
        """A new database at the newest schema: a copy of one migrated once per session.

        Copying takes a twentieth of a second, migrating a third of one; what the
        migrations themselves do is tested on empty databases (``test_migrations``, the
        service's startup).
        """
        if self._migrated is None:
            url = await self.create()
            engine = create_engine(normalise_database_url(url))
            try:
                await upgrade_to_head(engine)
            finally:
                await engine.dispose()  # a template must have no connection when copied
            self._migrated = make_url(url).database
        return await self.create(template=self._migrated)

    @staticmethod
    def _url(name: str) -> str:
        return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        """Drop every database this object created.

        Over many connections at once: each drop waits for a checkpoint, and drops that
        wait together share one (16 databases: 2.4 s one after the other, 0.3 s on 16 connections).
        """
        names = list(self._created)

        async def drop_some() -> None:
            connection = await _admin_connection()
            try:
                while names:
                    name = names.pop()
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()

        if names:
            await asyncio.gather(*(drop_some() for _ in range(min(DROPPERS, len(names)))))


@pytest.fixture(scope="session")
async def postgres_databases() -> AsyncIterator[PostgresDatabases]:
    """Factory of fresh PostgreSQL databases for the whole test session."""
    connection = await _admin_connection()
    await connection.close()
    databases = PostgresDatabases()
    yield databases
    await databases.drop_all()


@pytest.fixture
async def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return await postgres_databases.create()


@pytest.fixture
async def pg(postgres_databases: PostgresDatabases) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database at the newest schema."""
    url = await postgres_databases.migrated()
    engine = create_engine(normalise_database_url(url))
    yield Database(url, engine, create_session_factory(engine))
    await engine.dispose()
