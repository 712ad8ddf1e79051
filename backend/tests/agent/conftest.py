"""Fixtures of the loop tests: where a test's journal and candles live."""

import pytest

from app.db.session import SessionFactory
from tests.db import Database

from .live import STORES


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> SessionFactory | None:
    """In turn: in memory (None), then end to end in a fresh PostgreSQL database's sessions
    (marked ``postgres``). For the tests where the database itself matters."""
    if request.param == "memory":
        return None
    db: Database = request.getfixturevalue("pg")
    return db.sessions
