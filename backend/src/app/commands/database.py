"""The service's database for a command that runs once: migrated as startup would, closed after."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.config import Settings
from app.core.errors import ConfigError
from app.db.engine import create_engine
from app.db.migrate import schema_state, upgrade_to_head
from app.db.session import SessionFactory, create_session_factory


@asynccontextmanager
async def command_database(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions on ``DATABASE_URL``, migrated to head when ``AUTO_MIGRATE`` allows it.

    Raises:
        ConfigError: The schema is behind and ``AUTO_MIGRATE`` is off.
    """
    engine = create_engine(settings.database.url)
    try:
        if settings.database.auto_migrate:
            await upgrade_to_head(engine)
        elif not (await schema_state(engine)).at_head:
            raise ConfigError(["AUTO_MIGRATE: the database schema is not at head and it is off"])
        yield create_session_factory(engine)
    finally:
        await engine.dispose()
