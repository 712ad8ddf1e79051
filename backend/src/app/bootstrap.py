"""Composition root: builds the service's resources from settings, in one place."""

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.agent.supervisor import AgentSupervisor
from app.config import Settings
from app.core.errors import DatabaseError
from app.db.engine import create_engine
from app.db.migrate import SchemaState, schema_state, upgrade_to_head
from app.db.session import SessionFactory, create_session_factory, session_scope
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
    """Everything a request or a tick needs, built once per process by :func:`build_container`."""

    settings: Settings
    options: RuntimeOptions
    engine: AsyncEngine
    sessions: SessionFactory
    supervisor: AgentSupervisor
    schema_at_startup: SchemaState


async def build_container(
    settings: Settings, options: RuntimeOptions, stack: AsyncExitStack
) -> Container:
    """Open the database, migrate it, register accounts and start the supervisor.

    Every resource is registered on ``stack`` so it is released in reverse order.

    Raises:
        DatabaseError: The database is unreachable, or (MigrationError) the schema could not
            be brought to head.
    """
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
    supervisor = AgentSupervisor(accounts)
    stack.push_async_callback(supervisor.aclose)
    await supervisor.start()
    if options.replay:
        logger.warning(
            "--replay: paper trading will run on the bundled historical candles, not live prices"
        )
    return Container(
        settings=settings,
        options=options,
        engine=engine,
        sessions=sessions,
        supervisor=supervisor,
        schema_at_startup=state,
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
