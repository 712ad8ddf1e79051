"""Request dependencies, as ``Annotated`` aliases."""

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.agent.supervisor import UnknownAccount
from app.api.read_cache import ReadCache
from app.core.types import AccountId
from app.db.session import session_scope
from app.runtime.container import Container


async def get_container(connection: HTTPConnection) -> Container:
    """The container the lifespan built, for HTTP requests and WebSockets alike.

    ``async`` on purpose: FastAPI runs plain functions in its thread pool, a hand-off that
    costs more than everything else a cached read does.
    """
    return cast(Container, connection.state.container)


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_read_cache(connection: HTTPConnection) -> ReadCache:
    """The read cache the lifespan keeps beside the container (``async``: see above)."""
    return cast(ReadCache, connection.state.read_cache)


ReadCacheDep = Annotated[ReadCache, Depends(get_read_cache)]


async def get_session(container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed on success, rolled back on error."""
    async with session_scope(container.sessions) as session:
        yield session


# scope="function": the commit runs before the response goes out, so a client never sees a
# success the database did not keep, and a commit that fails is answered in the one error
# shape (503 when the connection is gone) instead of failing after the response started.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def known_account(account_id: str, container: ContainerDep) -> AccountId:
    """The path's account id, when the service has that account.

    Raises:
        UnknownAccount: It does not.
    """
    if account_id not in {a.id for a in container.settings.accounts}:
        raise UnknownAccount(account_id)
    return AccountId(account_id)


AccountDep = Annotated[AccountId, Depends(known_account)]
