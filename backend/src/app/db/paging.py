"""Keyset pagination in SQL: newest first, an opaque cursor instead of an offset.

A cursor encodes the (time, key) of the last item of a page; the next page holds the items
strictly older than it. Unlike offsets, pages stay correct while the agent keeps writing.
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import AppError


class InvalidCursor(AppError):
    """A cursor this service did not hand out."""

    status_code = 422
    code = "invalid_cursor"


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Limit, cursor and time range (start inclusive, end exclusive) of one list request."""

    limit: int = 50
    cursor: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def encode_cursor(at: datetime, key: Any) -> str:
    """An opaque cursor for the item at (``at``, ``key``)."""
    raw = f"{at.isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, key) inside a cursor.

    Raises:
        InvalidCursor: Not a cursor of this service.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|", 1)
        moment = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("the cursor is not one this service handed out") from exc
    if moment.tzinfo is None:
        raise InvalidCursor("the cursor is not one this service handed out")
    try:
        return moment.astimezone(UTC), key
    except OverflowError:  # e.g. year 1 at +14:00: no UTC time, so not one of ours either
        raise InvalidCursor("the cursor is not one this service handed out") from None


async def fetch_page[R](
    session: AsyncSession,
    query: Select[tuple[R]],
    params: PageRequest,
    time_column: InstrumentedAttribute[datetime],
    key_column: InstrumentedAttribute[Any],
    key_type: type = str,
) -> tuple[Sequence[R], str | None]:
    """Rows of one page of ``query`` (newest first) and the cursor of the next page."""
    if params.start is not None:
        query = query.where(time_column >= params.start)
    if params.end is not None:
        query = query.where(time_column < params.end)
    if params.cursor is not None:
        at, key = decode_cursor(params.cursor)
        try:
            typed_key = key_type(key)
        except ValueError as exc:
            raise InvalidCursor("the cursor is not one this service handed out") from exc
        query = query.where(or_(time_column < at, and_(time_column == at, key_column < typed_key)))
    query = query.order_by(time_column.desc(), key_column.desc()).limit(params.limit + 1)
    rows = list((await session.scalars(query)).all())
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, time_column.key), getattr(last, key_column.key))
