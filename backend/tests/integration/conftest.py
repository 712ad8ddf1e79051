"""A migrated PostgreSQL database per test."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import SessionFactory, create_session_factory


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessions: SessionFactory


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    """A fresh PostgreSQL database at the newest schema."""
    engine = create_engine(normalise_database_url(postgres_url))
    await upgrade_to_head(engine)
    yield Database(postgres_url, engine, create_session_factory(engine))
    await engine.dispose()
