"""Dialect-aware ``INSERT ... ON CONFLICT DO NOTHING`` for PostgreSQL and SQLite."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from app.db.base import Base


def insert_ignore(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> Insert:
    """An insert of ``rows`` that leaves any row already there (by any unique key) alone.

    One statement and no look-up first: idempotent writes cost one round trip.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(list(rows)).on_conflict_do_nothing()
