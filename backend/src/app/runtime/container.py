"""The service's container: its resources built from settings, in one place, at startup.

The container knows nothing of HTTP: the API reads it, and what the API keeps of its own
(the read cache) listens to it (:attr:`Container.journal_listeners`).
"""

import asyncio
import logging
import secrets
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.agent.locks import replica_locks
from app.agent.supervisor import AgentSupervisor, ManagedAgent
from app.backtest.jobs import BacktestJobs
from app.config import Settings, SettingsWatcher
from app.core.errors import DatabaseError
from app.core.secrets import register_secrets
from app.db.engine import create_engine
from app.db.migrate import SchemaState, schema_state, upgrade_to_head
from app.db.session import SessionFactory, create_session_factory, session_scope
from app.llm.errors import LlmError
from app.llm.http import OpenRouterClient
from app.llm.provider import check_model
from app.runtime.agents import AgentsRuntime, build_agents
from app.runtime.reload import start_watching
from app.streaming.bus import EventBus
from app.trading.repository import sync_accounts

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Choices made on the command line rather than in the environment.

    Attributes:
        replay: Run paper mode on the bundled historical candles instead of live market data.
    """

    replay: bool = False


@dataclass(frozen=True, slots=True)
class Container:
    """Everything a request or a tick needs, built once per process by :func:`build_container`.

    Attributes:
        journal_listeners: Told the id of the account whose journal changed (an order, a
            fill, a decision...); the HTTP layer's read cache subscribes here.
        backtests: The backtests started over the API (None when the schema is not at head).
    """

    settings: Settings
    options: RuntimeOptions
    engine: AsyncEngine
    sessions: SessionFactory
    supervisor: AgentSupervisor
    schema_at_startup: SchemaState
    api_token: str | None = None
    bus: EventBus = field(default_factory=EventBus)
    runtime: AgentsRuntime | None = None
    watcher: SettingsWatcher | None = None
    journal_listeners: list[Callable[[str], None]] = field(default_factory=list)
    backtests: BacktestJobs | None = None

    @property
    def in_force(self) -> Settings:
        """The settings in force (a change accepted over the API or the file, else startup's)."""
        return self.watcher.current if self.watcher is not None else self.settings


async def build_container(
    settings: Settings, options: RuntimeOptions, stack: AsyncExitStack
) -> Container:
    """Open the database, migrate it, register accounts and start the supervisor.

    Every resource is registered on ``stack`` so it is released in reverse order.

    Raises:
        DatabaseError: The database is unreachable, or (MigrationError) the schema could not
            be brought to head.
    """
    # Before anything can be journaled or streamed: an upstream error that repeats a key
    # is masked at the journal and the stream, also when logging was set up without them.
    register_secrets(settings.secret_values())
    engine = create_engine(settings.database.url)
    stack.push_async_callback(engine.dispose)
    backend = engine.dialect.name
    try:
        if settings.database.auto_migrate:
            await upgrade_to_head(engine)
        state = await schema_state(engine)
    except (SQLAlchemyError, OSError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"cannot use the database at {where}: {exc}") from exc
    _log_schema(backend, state)
    sessions = create_session_factory(engine)
    accounts = [(account.id, account.trading_mode) for account in settings.accounts]
    if state.at_head:
        async with session_scope(sessions) as session:
            await sync_accounts(session, accounts)
    _log_accounts(settings)
    await check_llm_models(settings)
    bus, listeners = EventBus(), list[Callable[[str], None]]()

    def journal_changed(account_id: str) -> None:
        for listener in listeners:
            listener(account_id)

    runtime = await _start_agents(
        settings, options, engine, sessions, state, stack, bus, journal_changed
    )
    watcher = None
    if runtime is not None:
        watcher = await start_watching(settings, runtime, stack, poll=settings.config_watch_enabled)
    supervisor = runtime.supervisor if runtime is not None else _idle_supervisor(settings, state)
    backtests = await _backtests(engine, sessions, bus, state, stack)
    token = settings.api_token.get_secret_value() if settings.api_token else generated_token()
    register_secrets([token])
    container = Container(
        api_token=token,
        settings=settings,
        options=options,
        engine=engine,
        sessions=sessions,
        supervisor=supervisor,
        schema_at_startup=state,
        bus=bus,
        runtime=runtime,
        watcher=watcher,
        journal_listeners=listeners,
        backtests=backtests,
    )
    return container


async def _backtests(
    engine: AsyncEngine,
    sessions: SessionFactory,
    bus: EventBus,
    state: SchemaState,
    stack: AsyncExitStack,
) -> BacktestJobs | None:
    """The API's backtest runner; runs still going at shutdown are cancelled first."""
    if not state.at_head:
        return None
    jobs = BacktestJobs(sessions, bus, locks=replica_locks(engine))
    # Runs a process that is gone left going will never end (another replica's go on);
    # looked for again while the service runs, for a replica that dies meanwhile.
    await jobs.recover()
    jobs.sweep()
    stack.push_async_callback(jobs.aclose)
    return jobs


async def _start_agents(
    settings: Settings,
    options: RuntimeOptions,
    engine: AsyncEngine,
    sessions: SessionFactory,
    state: SchemaState,
    stack: AsyncExitStack,
    bus: EventBus,
    journal_changed: Callable[[str], None],
) -> AgentsRuntime | None:
    if not settings.agents_enabled or not state.at_head:
        return None
    if options.replay:
        logger.warning("--replay: paper trading runs on recorded candles, not live prices")
    runtime = await build_agents(
        settings, engine, sessions, replay=options.replay, bus=bus, on_change=journal_changed
    )
    stack.push_async_callback(runtime.aclose)
    logger.info("market data: %s", runtime.source_name)
    await runtime.supervisor.start()
    return runtime


def _idle_supervisor(settings: Settings, state: SchemaState) -> AgentSupervisor:
    """Agents off: every account says why."""
    reason = "AGENTS_ENABLED=false" if not settings.agents_enabled else "schema not at head"
    logger.warning("agent loops are off (%s)", reason)
    detail = f"off ({reason})"
    return AgentSupervisor(
        {a.id: ManagedAgent(a.trading_mode, None, detail) for a in settings.accounts}
    )


def _log_accounts(settings: Settings) -> None:
    for account in settings.accounts:
        decider = (
            f"LLM {account.llm_model}"
            if account.openrouter_api_key is not None
            else "the rules-based provider (no OPENROUTER_API_KEY)"
        )
        logger.info(
            "account %s: %s trading on %s, decisions by %s",
            account.id,
            account.trading_mode.value,
            ",".join(account.assets),
            decider,
        )


def _log_schema(backend: str, state: SchemaState) -> None:
    if not state.at_head:
        logger.warning(
            "database schema is at %s but this code expects %s: run "
            "'cd backend && uv run alembic upgrade head' or set AUTO_MIGRATE=true",
            state.current,
            state.head,
        )
    if state.timescaledb:
        logger.info(
            "database: %s, TimescaleDB %s on; hypertables: %s",
            backend,
            state.timescaledb,
            ", ".join(state.hypertables) or "none",
        )
    else:
        logger.info("database: %s, TimescaleDB off: time-series tables are plain tables", backend)


async def check_llm_models(settings: Settings, *, timeout_s: float = 5.0) -> list[str]:
    """Warn about each account's model against OpenRouter's catalogue (skipped offline).

    Returns the warnings it logged.
    """
    keyed = [a for a in settings.accounts if a.openrouter_api_key is not None]
    if not keyed:
        return []
    key = keyed[0].openrouter_api_key
    assert key is not None  # filtered above
    client = OpenRouterClient(
        base_url=settings.llm.base_url, api_key=key, timeout_s=timeout_s, attempts=1
    )
    try:
        models = await asyncio.wait_for(client.models(), timeout_s)
    except (LlmError, TimeoutError) as exc:
        logger.warning("could not check LLM models against OpenRouter (%s); continuing", exc)
        return []
    finally:
        await client.aclose()
    today = datetime.now(UTC).date().isoformat()
    warnings = [
        f"account {account.id}: {warning}"
        for account in keyed
        for variable, model in (
            ("LLM_MODEL", account.llm_model),
            *(("LLM_FALLBACK_MODELS", m) for m in settings.llm_fallback_models),
        )
        for warning in check_model(models, model, today=today, variable=variable)
    ]
    for warning in warnings:
        logger.warning(warning)
    return warnings


def generated_token() -> str:
    """A fresh API token for a development run, printed once to the terminal, never logged.

    ``ENVIRONMENT=production`` refuses to start without ``API_TOKEN``, so this only happens
    where an operator is watching.
    """
    token = secrets.token_urlsafe(32)
    print(f"API_TOKEN is not set: this run's token is {token}", file=sys.stderr, flush=True)
    return token
