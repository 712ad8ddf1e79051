"""The real service in-process: its lifespan, uvicorn on a free loopback port, real HTTP.

``serve()`` yields the base URLs and the running container, so a test can reach what a
user cannot see directly (the event bus, the agent loops) while talking to the service
exactly as a user does.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest
from fastapi import FastAPI

from app.config import load_settings
from app.main import create_app
from app.runtime.container import Container, RuntimeOptions
from tests.fakes._uvicorn import LoopbackServer


@dataclass
class RunningService:
    """One running service."""

    base_url: str
    ws_url: str
    container: Container
    app: FastAPI

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        """An HTTP client for the service, sending ``token`` as bearer when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


@asynccontextmanager
async def serve(
    options: RuntimeOptions | None = None, *, configure: Callable[[FastAPI], None] | None = None
) -> AsyncIterator[RunningService]:
    """Load settings from the (test's) environment, start the lifespan, serve on loopback.

    ``configure`` adjusts the app first (e.g. dependency overrides).
    """
    app = create_app(load_settings(use_default_env_file=False), options or RuntimeOptions())
    if configure is not None:
        configure(app)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        container = state["container"]
        assert isinstance(container, Container)

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            # What a lifespan-aware server does: each connection sees the lifespan's state.
            scope["state"] = dict(state)
            await app(scope, receive, send)

        server = LoopbackServer(with_state, name="trading-agent", ws="websockets-sansio")
        port = await server.start()
        try:
            yield RunningService(
                f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", container, app
            )
        finally:
            await server.stop()


REPLAY_TOKENS: Final = ("full-token-0123456789abcdef", "read-token-0123456789abcdef")
"""The full and the read token of :func:`replay_service`."""


@asynccontextmanager
async def replay_service(
    database_url: str, monkeypatch: pytest.MonkeyPatch, *, speed: str, **extra: str
) -> AsyncIterator[RunningService]:
    """``serve()`` paper-trading the bundled candles (``--replay``) into ``database_url``.

    Agents on, :data:`REPLAY_TOKENS`, no configuration watcher, ``REPLAY_SPEED=speed``, and
    any other variable as ``extra`` (``LLM_DAILY_BUDGET_USD="5"``).
    """
    full, read = REPLAY_TOKENS
    for name, value in {
        "DATABASE_URL": database_url,
        "AGENTS_ENABLED": "true",
        "API_TOKEN": full,
        "API_READ_TOKEN": read,
        "REPLAY_SPEED": speed,
        "CONFIG_WATCH_ENABLED": "false",
        **extra,
    }.items():
        monkeypatch.setenv(name, value)
    async with serve(RuntimeOptions(replay=True)) as running:
        yield running
