"""A migrated database handle for tests, and sessions on it through a proxy a test can cut."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.session import SessionFactory, create_session_factory
from tests.fakes.tcp_proxy import TcpProxy


@dataclass
class Database:
    """A test database: its URL, engine and session factory."""

    url: str
    engine: AsyncEngine
    sessions: SessionFactory


@asynccontextmanager
async def proxied(pg: Database) -> AsyncIterator[tuple[TcpProxy, SessionFactory]]:
    """Sessions on the test database through a proxy the test can cut."""
    async with TcpProxy("127.0.0.1", make_url(pg.url).port or 5432) as proxy:
        engine = create_engine(normalise_database_url(proxy.url_for(pg.url)))
        try:
            yield proxy, create_session_factory(engine)
        finally:
            await engine.dispose()
