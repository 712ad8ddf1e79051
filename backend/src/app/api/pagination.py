"""Paging parameters and the page shape of the list endpoints (see :mod:`app.db.paging`)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from app.db.paging import PageRequest

MAX_LIMIT = 500


def _in_utc(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 is a valid datetime with no UTC equivalent: refuse it here (422)
    # rather than let the database layer fail on it (500).
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("has no UTC equivalent (before year 1 or after 9999)") from None


UtcQueryTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""A query parameter time: with a UTC offset, returned in UTC; out-of-range ones are a 422."""


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
        UtcQueryTime | None, Query(description="Only items at or after (with a UTC offset)")
    ] = None,
    end: Annotated[
        UtcQueryTime | None, Query(description="Only items before (with a UTC offset)")
    ] = None,
) -> PageRequest:
    """The paging query parameters every list endpoint takes."""
    return PageRequest(limit, cursor, start, end)


PageDep = Annotated[PageRequest, Depends(page_params)]
