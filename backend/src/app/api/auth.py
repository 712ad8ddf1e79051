"""Bearer-token authentication: ``API_TOKEN`` may do anything, ``API_READ_TOKEN`` only read.

Tokens are compared in constant time. In development without ``API_TOKEN`` a token is
generated at startup and printed once, so nothing that changes state is ever open.
"""

import hmac
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import ContainerDep
from app.core.errors import AppError
from app.runtime.container import Container

_bearer = HTTPBearer(auto_error=False, description="API_TOKEN (full) or API_READ_TOKEN (read)")


class NotAuthenticated(AppError):
    """No token, or a wrong one."""

    status_code = 401
    code = "not_authenticated"


class Forbidden(AppError):
    """The token may not do this."""

    status_code = 403
    code = "forbidden"


Role = Literal["full", "read"]


def _matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def token_role(container: Container, token: str) -> Role | None:
    """The role of ``token`` (``API_TOKEN`` full, ``API_READ_TOKEN`` read), None if neither.

    Shared by the HTTP dependency and the ``/ws`` stream; compares in constant time.
    """
    if _matches(token, container.api_token):
        return "full"
    read = container.settings.api_read_token
    if _matches(token, read.get_secret_value() if read else None):
        return "read"
    return None


async def _role(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Role:
    if credentials is None:
        raise NotAuthenticated("send 'Authorization: Bearer <token>'")
    role = token_role(container, credentials.credentials)
    if role is None:
        raise NotAuthenticated("the token is not valid")
    return role


async def require_read(role: Annotated[Role, Depends(_role)]) -> Role:
    """Any valid token."""
    return role


async def require_full(role: Annotated[Role, Depends(_role)]) -> Role:
    """The full-access token (anything that changes state)."""
    if role != "full":
        raise Forbidden("this token may only read")
    return role


ReadAccess = Annotated[Role, Depends(require_read)]
FullAccess = Annotated[Role, Depends(require_full)]
