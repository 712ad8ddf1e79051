"""One error shape for every response: ``{"error": code, "detail": message}``."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import AppError

logger = logging.getLogger(__name__)


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
    422: "Invalid parameters or body",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, all in the one error shape."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


API_ERRORS = error_responses(400, 401, 403, 404, 409, 422)
"""What any ``/api/v1`` route may answer besides success."""


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail})


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.code, exc.detail)
    return _error(exc.status_code, exc.code, exc.detail)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "http_error"
    )
    return _error(exc.status_code, code, str(exc.detail))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    return _error(422, "validation_error", "; ".join(problems))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the (redacted) log; the client learns nothing internal.
    logger.exception("unhandled error", exc_info=exc)
    return _error(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error in the one shape."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
