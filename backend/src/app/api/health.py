"""Liveness and readiness probes (open, no token)."""

import logging
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.api.deps import ContainerDep
from app.db.errors import connection_failure, outage_log
from app.db.migrate import SchemaState, schema_state
from app.runtime.container import Container

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class HealthRead(BaseModel):
    """Liveness: the process is up and serving."""

    status: Literal["ok"] = "ok"
    version: str


class DatabaseRead(BaseModel):
    """The database as seen by the readiness probe."""

    backend: str
    reachable: bool
    revision: str | None
    head: str | None
    at_head: bool
    error: str | None = None


class TimescaleRead(BaseModel):
    """Whether the time-series tables are TimescaleDB hypertables."""

    enabled: bool
    version: str | None
    hypertables: list[str]


class ReadyRead(BaseModel):
    """Readiness: the database answers and its schema is the one this code expects."""

    status: Literal["ready", "not_ready"]
    version: str
    database: DatabaseRead
    timescaledb: TimescaleRead


@router.get("/health", summary="Liveness probe")
async def health() -> HealthRead:
    """Answer as long as the process serves requests."""
    return HealthRead(version=__version__)


@router.get(
    "/ready",
    summary="Readiness probe: database reachable, migrations at head, TimescaleDB state",
    responses={503: {"model": ReadyRead, "description": "Not ready"}},
)
async def ready(container: ContainerDep, response: Response) -> ReadyRead:
    """503 until the database answers and its schema is at head."""
    database, timescale, error = await probe_database(container)
    if error is not None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadyRead(
        status="ready" if error is None else "not_ready",
        version=__version__,
        database=database,
        timescaledb=timescale,
    )


async def probe_database(container: Container) -> tuple[DatabaseRead, TimescaleRead, str | None]:
    """The database and TimescaleDB as they are now, and what is wrong (None: nothing)."""
    backend = container.engine.dialect.name
    state: SchemaState | None = None
    error: str | None = None
    try:
        async with container.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        state = await schema_state(container.engine)
    except (SQLAlchemyError, OSError) as exc:
        failure = connection_failure(exc)
        if failure is None:
            logger.warning("readiness: database error: %s", exc)
            error = f"database error ({exc.__class__.__name__})"
        else:
            # Probes come every few seconds: the outage log keeps them to a few lines.
            outage_log(container.engine).failed(exc)
            error = f"database unreachable: {failure} ({exc.__class__.__name__})"
    at_head = state is not None and state.at_head
    if state is not None and not at_head:
        error = f"schema at {state.current}, expected {state.head}"
    database = DatabaseRead(
        backend=backend,
        reachable=state is not None,
        revision=state.current if state else None,
        head=state.head if state else None,
        at_head=at_head,
        error=error,
    )
    timescale = TimescaleRead(
        enabled=bool(state and state.timescaledb),
        version=state.timescaledb if state else None,
        hypertables=list(state.hypertables) if state else [],
    )
    return database, timescale, error
