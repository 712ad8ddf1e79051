"""Bring the schema to head from inside the service, and report where it stands."""

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import MigrationError
from app.db.timescale import EXTENSION

logger = logging.getLogger(__name__)

BACKEND_DIR: Final = Path(__file__).resolve().parents[3]
ALEMBIC_INI: Final = BACKEND_DIR / "alembic.ini"
MIGRATIONS_DIR: Final = BACKEND_DIR / "migrations"

# Replicas starting together take turns: the second one finds the schema already at head.
_MIGRATION_LOCK_KEY: Final = 0x7472_6164_696E_67  # "trading" in hex, fits in a bigint


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database schema stands.

    Attributes:
        current: The revision the database is at, or None when it was never migrated.
        head: The newest revision this code knows.
        timescaledb: The TimescaleDB extension version, or None when it is not in use.
        hypertables: Names of the tables that are hypertables.
    """

    current: str | None
    head: str | None
    timescaledb: str | None
    hypertables: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        """True when the database is at the newest revision."""
        return self.current is not None and self.current == self.head


def alembic_config() -> Config:
    """The Alembic configuration of ``backend/``, located from this file."""
    if not MIGRATIONS_DIR.is_dir():
        raise MigrationError(f"migrations directory not found at {MIGRATIONS_DIR}")
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str | None:
    """The newest revision in the migrations directory (read once per process)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Migrate the database to head in one transaction (serialised across replicas).

    Raises:
        MigrationError: A migration failed; the transaction is rolled back.
    """
    config = alembic_config()
    before = (await schema_state(engine)).current
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(_upgrade, config)
    except SQLAlchemyError as exc:
        raise MigrationError(f"database migration failed: {exc.__class__.__name__}: {exc}") from exc
    after = (await schema_state(engine)).current
    if after != before:
        logger.info("database migrated from %s to %s", before or "empty", after)


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Read the current revision and the TimescaleDB state from the database."""
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
        version: str | None = None
        hypertables: tuple[str, ...] = ()
        if connection.dialect.name == "postgresql":
            version = (
                await connection.execute(
                    text("SELECT extversion FROM pg_extension WHERE extname = :name"),
                    {"name": EXTENSION},
                )
            ).scalar_one_or_none()
            if version is not None:
                rows = await connection.execute(
                    text(
                        "SELECT hypertable_name FROM timescaledb_information.hypertables "
                        "ORDER BY hypertable_name"
                    )
                )
                hypertables = tuple(rows.scalars())
    return SchemaState(
        current=current, head=head_revision(), timescaledb=version, hypertables=hypertables
    )
