"""One error shape for every response: ``{"error": code, "detail": message}``.

A database that cannot be reached answers 503 ``database_unavailable``, whether the error
was translated (:class:`~app.core.errors.DatabaseUnavailable`, from ``session_scope``) or
escaped as the driver raised it; the engine's :class:`~app.db.errors.OutageLog` keeps the
outage to a few warning lines, without tracebacks.
"""

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError, DatabaseUnavailable
from app.core.secrets import redact
from app.db.errors import OutageLog, database_unavailable, is_connection_error, outage_log

logger = logging.getLogger(__name__)


class NotFound(AppError):
    """The account has no such item."""

    status_code = 404
    code = "not_found"


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: str
    detail: str


_DESCRIPTIONS: dict[int, str] = {
    400: "The request body could not be read (not JSON, or not UTF-8)",
    401: "No token, or a wrong one",
    403: "The read-only token may not change anything",
    404: "No such account or item",
    409: "Not possible in the agent's current state",
    413: "The body is larger than API_MAX_BODY_BYTES",
    422: "Invalid parameters or body",
    503: "The database cannot be reached now; retry later",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all in the one error shape."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


API_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)
"""What any ``/api/v1`` route may answer besides success."""


HTTP_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
"""Codes of the framework's own HTTP errors (an unknown path, a wrong method)."""


def _error(status: int, code: str, detail: str) -> JSONResponse:
    # Details repeat outside text (an exchange's message, a path parameter): mask secrets.
    return JSONResponse(status_code=status, content={"error": code, "detail": redact(detail)})


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if isinstance(exc, DatabaseUnavailable):
        return _database_unavailable(request, exc)
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.code, exc.detail)
    return _error(exc.status_code, exc.code, exc.detail)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    return _error(422, "validation_error", "; ".join(problems))


async def _driver_error(request: Request, exc: Exception) -> JSONResponse:
    # Registered for the driver's and the socket's exception types, so a connection error
    # that escaped untranslated is still a 503 and not a 500 with a traceback.
    if request.scope["type"] != "http":
        raise exc  # a WebSocket cannot take a response: the server closes it, as before
    if is_connection_error(exc):
        return _database_unavailable(request, database_unavailable(exc))
    return await _unexpected(request, exc)


def _database_unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
    _outage_log(request).failed(exc)
    return _error(exc.status_code, exc.code, exc.detail)


_UNBOUND_OUTAGES = OutageLog()  # for an app served without its lifespan's container


def _outage_log(request: Request) -> OutageLog:
    # Duck-typed: the container's module imports the routers, which import this one.
    engine = getattr(getattr(request.state, "container", None), "engine", None)
    return outage_log(engine) if isinstance(engine, AsyncEngine) else _UNBOUND_OUTAGES


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the (redacted) log; the client learns nothing internal.
    logger.exception("unhandled error", exc_info=exc)
    return _error(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error in the one shape."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Starlette hands `Exception` to its outermost middleware, which answers and then
    # re-raises for the server to log a traceback; these types are handled where they end.
    for driver_error in (OSError, SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(driver_error, _driver_error)
    app.add_exception_handler(Exception, _unexpected)
