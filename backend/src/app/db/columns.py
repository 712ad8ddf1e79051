"""Column helpers repeated by many models."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import UtcDateTime
from app.trading.runs import ACCOUNT_RUN, RUN_ID_LENGTH


def utc_now() -> datetime:
    """Default for ``*_at`` columns written by the database layer itself."""
    return datetime.now(UTC)


def uuid_pk(**kwargs: Any) -> Mapped[uuid.UUID]:
    """A client-generated UUID primary key.

    No database sequence: rows can be referenced before they are written, and ids stay stable
    across retries.
    """
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4, **kwargs)


def created_at() -> Mapped[datetime]:
    """When the row was first written."""
    return mapped_column(UtcDateTime, default=utc_now, nullable=False)


def stamped_at() -> Mapped[datetime]:
    """When it happened, by the writer's clock.

    No default: a replay or a backtest never gets the wall clock's time on a record by accident.
    """
    return mapped_column(UtcDateTime, nullable=False)


def restamped_at() -> Mapped[datetime]:
    """When the record last changed, by the writer's clock (set on every change)."""
    return mapped_column(UtcDateTime, nullable=False)


def updated_at() -> Mapped[datetime]:
    """When the row last changed."""
    return mapped_column(UtcDateTime, default=utc_now, onupdate=utc_now, nullable=False)


def run_column(*, primary_key: bool = False) -> Mapped[str]:
    """The run the record belongs to (:mod:`app.trading.runs`).

    The server default puts rows written before runs existed, and any writer that does not
    name a run, in the account run; the journal always names its run.
    """
    return mapped_column(
        String(RUN_ID_LENGTH),
        primary_key=primary_key,
        default=ACCOUNT_RUN,
        server_default=ACCOUNT_RUN,
        nullable=False,
    )
