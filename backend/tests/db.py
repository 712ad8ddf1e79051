"""A migrated database handle for tests."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import SessionFactory


@dataclass
class Database:
    """A test database: its URL, engine and session factory."""

    url: str
    engine: AsyncEngine
    sessions: SessionFactory
