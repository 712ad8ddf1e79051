"""Dialect-aware ``INSERT ... ON CONFLICT DO NOTHING`` for PostgreSQL and SQLite."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import Base


async def insert_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows``, leaving any row already there (by any unique key) alone.

    One statement and no look-up first: idempotent writes cost one round trip. The rows go
    as parameters of one cached statement (never as literal VALUES, which SQLAlchemy would
    compile again at every call).
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(model).on_conflict_do_nothing(), [dict(row) for row in rows])
