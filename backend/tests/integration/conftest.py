"""Integration tests use the ``pg`` fixture of the root conftest (a migrated PostgreSQL)."""

from tests.db import Database

__all__ = ["Database"]
