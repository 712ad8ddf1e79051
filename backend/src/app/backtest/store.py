"""Backtest runs in the database (``backtest_runs``): written by the jobs, read by the API.

Each function takes the session of the caller's unit of work and only flushes; the caller
commits (:func:`app.db.session.session_scope`).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.backtest.models import BacktestRunRow
from app.db.paging import PageRequest, fetch_page

Series = Literal["trades", "equity", "decisions"]
"""The result lists a finished run keeps."""

_ACTIVE = ("pending", "running")
# The result lists can be large: a summary read leaves them in the database.
_SUMMARY = (
    defer(BacktestRunRow.trades, raiseload=True),
    defer(BacktestRunRow.equity, raiseload=True),
    defer(BacktestRunRow.decisions, raiseload=True),
)


async def add_run(
    session: AsyncSession,
    run_id: str,
    *,
    title: str | None,
    config: dict[str, Any],
    status: str,
    created_at: datetime,
) -> BacktestRunRow:
    """Record a run that is about to start."""
    row = BacktestRunRow(
        id=run_id,
        status=status,
        title=title,
        config=config,
        progress=None,
        metrics=None,
        notes=[],
        error=None,
        trades=None,
        equity=None,
        decisions=None,
        created_at=created_at,
        started_at=created_at,
        finished_at=None,
    )
    session.add(row)
    await session.flush()
    return row


async def save_progress(session: AsyncSession, run_id: str, progress: dict[str, Any]) -> None:
    """Replace the run's progress."""
    await session.execute(
        update(BacktestRunRow).where(BacktestRunRow.id == run_id).values(progress=progress)
    )


async def finish_run(
    session: AsyncSession,
    run_id: str,
    *,
    status: str,
    finished_at: datetime,
    progress: dict[str, Any] | None,
    notes: list[str],
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
    results: dict[Series, list[Any]] | None = None,
) -> None:
    """Record how the run ended and, when it produced them, its metrics and result lists."""
    values: dict[str, Any] = {
        "status": status,
        "finished_at": finished_at,
        "notes": notes,
        "error": error,
        "metrics": metrics,
    }
    for name, rows in (results or {}).items():
        values[name] = rows
    if progress is not None:
        values["progress"] = progress
    await session.execute(
        update(BacktestRunRow).where(BacktestRunRow.id == run_id).values(**values)
    )


async def active_run_ids(session: AsyncSession) -> list[str]:
    """The ids of the runs recorded as pending or running (here or on another replica)."""
    query = select(BacktestRunRow.id).where(BacktestRunRow.status.in_(_ACTIVE))
    return list(await session.scalars(query))


async def interrupt(
    session: AsyncSession, run_ids: Sequence[str], at: datetime, reason: str
) -> int:
    """Mark these runs failed if they are still pending or running (their process is gone).

    Returns:
        How many runs were marked.
    """
    if not run_ids:
        return 0
    result = await session.execute(
        update(BacktestRunRow)
        .where(BacktestRunRow.id.in_(run_ids), BacktestRunRow.status.in_(_ACTIVE))
        .values(status="failed", error=reason, finished_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def get_run(session: AsyncSession, run_id: str) -> BacktestRunRow | None:
    """The run's summary (without its result lists), or None when there is no such run."""
    query = select(BacktestRunRow).where(BacktestRunRow.id == run_id).options(*_SUMMARY)
    return (await session.scalars(query)).one_or_none()


async def list_runs(
    session: AsyncSession, page: PageRequest
) -> tuple[Sequence[BacktestRunRow], str | None]:
    """One page of run summaries, newest first, and the cursor of the next page."""
    query = select(BacktestRunRow).options(*_SUMMARY)
    return await fetch_page(session, query, page, BacktestRunRow.created_at, BacktestRunRow.id)


async def get_series(
    session: AsyncSession, run_id: str, series: Series
) -> tuple[bool, list[Any] | None]:
    """Whether the run exists, and one of its result lists (None until it has ended)."""
    column = getattr(BacktestRunRow, series)
    row = (await session.execute(select(column).where(BacktestRunRow.id == run_id))).one_or_none()
    if row is None:
        return False, None
    value = row[0]
    return True, list(value) if value is not None else None
