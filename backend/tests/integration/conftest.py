"""Integration tests use the ``pg`` fixture of the root conftest (a migrated PostgreSQL).

``browser``: the system Chromium, one per module (see :mod:`tests.browser`).
"""

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.browser import launched
from tests.db import Database

__all__ = ["Database"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched() as running:
        yield running
