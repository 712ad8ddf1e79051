"""The application lifespan: build the container, hand it to requests, tear it down.

The HTTP layer's own parts are added here, on top of the container: the read cache (told
by the container when an account's journal changes) and the stream snapshots.
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from app.api.read_cache import ReadCache
from app.config import Settings
from app.core.errors import AppError
from app.runtime.container import Container, RuntimeOptions, build_container
from app.runtime.snapshots import StreamSnapshots

logger = logging.getLogger(__name__)


def startup_refusal(app: FastAPI) -> str | None:
    """Why the lifespan of ``app`` refused to start (already logged, one line per problem)."""
    refusal = getattr(app.state, "startup_refusal", None)
    return refusal if isinstance(refusal, str) else None


class LifespanState(TypedDict):
    """What every request sees in ``request.state``."""

    container: Container
    read_cache: ReadCache


def make_lifespan(
    settings_provider: Callable[[], Settings], options: RuntimeOptions
) -> Callable[[FastAPI], AbstractAsyncContextManager[LifespanState]]:
    """A lifespan that builds the container from ``settings_provider()`` at startup.

    Settings are read at startup, not at import or app-creation time, so creating the app
    does no work.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[LifespanState]:
        async with AsyncExitStack() as stack:
            try:
                container = await build_container(settings_provider(), options, stack)
            except AppError as exc:
                # A refusal the user can act on, not a bug: its lines say it all, and
                # `trading-agent` ends with status 2 and no traceback (app.listener).
                for line in exc.detail.splitlines():
                    logger.error("startup failed: %s", line)
                app.state.startup_refusal = exc.detail
                raise
            # Subscribers get the same views as the REST endpoints as their first message.
            container.bus.snapshots = StreamSnapshots(container)
            read_cache = ReadCache()
            container.journal_listeners.append(read_cache.changed)
            yield {"container": container, "read_cache": read_cache}

    return lifespan
