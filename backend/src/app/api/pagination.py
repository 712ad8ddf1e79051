"""Paging parameters and the page shape of the list endpoints (see :mod:`app.db.paging`)."""

from typing import Annotated

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from app.db.paging import PageRequest

MAX_LIMIT = 500


class Page[T](BaseModel):
    """One page of a list, newest first."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page"
    )


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    start: Annotated[
        AwareDatetime | None, Query(description="Only items at or after (with a UTC offset)")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(description="Only items before (with a UTC offset)")
    ] = None,
) -> PageRequest:
    """The paging query parameters every list endpoint takes."""
    return PageRequest(limit, cursor, start, end)


PageDep = Annotated[PageRequest, Depends(page_params)]
