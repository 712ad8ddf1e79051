"""``/api/v1/backtests``: start, follow, read and cancel backtests.

Any token reads; only the full token starts (``POST``) or cancels (``DELETE``) a run. A run's
progress and end are also streamed on ``/ws`` as the channel ``backtest.{id}``.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel

from app.api.auth import FullAccess, ReadAccess
from app.api.deps import ContainerDep, SessionDep
from app.api.errors import API_ERRORS, ErrorResponse
from app.api.pagination import MAX_LIMIT, Page, PageDep
from app.backtest import store
from app.backtest.errors import BacktestFinished, InvalidBacktest, UnknownBacktest
from app.backtest.jobs import BacktestJobs, channel_of
from app.backtest.schemas import (
    BacktestAccepted,
    BacktestCreate,
    BacktestRead,
    DecisionRead,
    EquityRead,
    ReplayCreate,
    SeriesPage,
    TradeRead,
    as_fields,
)
from app.core.errors import AppError
from app.db.paging import InvalidCursor, decode_cursor, encode_cursor
from app.runtime.container import Container

router = APIRouter(
    prefix="/api/v1/backtests",
    tags=["backtests"],
    responses={
        **API_ERRORS,
        429: {"model": ErrorResponse, "description": "As many backtests as allowed are running"},
    },
)

RunId = Annotated[str, Path(max_length=64, description="The run's id (backtest-<uuid>)")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page")
]


class BacktestsUnavailable(AppError):
    """The service runs no backtests (its database schema is not at head)."""

    status_code = 503
    code = "backtests_unavailable"


def _jobs(container: Container) -> BacktestJobs:
    if container.backtests is None:
        raise BacktestsUnavailable("backtests need the database schema at head")
    return container.backtests


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a backtest",
    response_model=BacktestAccepted,
)
async def start_backtest(
    body: BacktestCreate, container: ContainerDep, _: FullAccess
) -> BacktestAccepted:
    """Check the request whole and start it in the background (422 lists every problem)."""
    jobs = _jobs(container)
    try:
        run_id = await jobs.submit(body.spec())
    except InvalidBacktest as exc:
        raise InvalidBacktest([as_fields(problem) for problem in exc.problems]) from exc
    return BacktestAccepted(id=run_id, status="running", channel=channel_of(run_id))


@router.post(
    "/{run_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replay a backtest's decisions under other settings",
    response_model=BacktestAccepted,
)
async def replay_backtest(
    run_id: RunId, body: ReplayCreate, container: ContainerDep, _: FullAccess
) -> BacktestAccepted:
    """Re-judge a finished run's recorded decisions under other risk settings.

    No model is asked: each cycle gets the decision the run recorded for it. The replay is
    a run of its own (follow it like any backtest); its notes set its headline metrics
    beside the original's.
    """
    jobs = _jobs(container)
    try:
        replay_id = await jobs.submit_replay(run_id, body.overrides(), body.title)
    except InvalidBacktest as exc:
        raise InvalidBacktest([as_fields(problem) for problem in exc.problems]) from exc
    return BacktestAccepted(id=replay_id, status="running", channel=channel_of(replay_id))


@router.get("", summary="Backtests, newest first", response_model=Page[BacktestRead])
async def list_backtests(session: SessionDep, page: PageDep, _: ReadAccess) -> Page[BacktestRead]:
    """Every run started over the API (``start``/``end`` filter on when it was started)."""
    rows, cursor = await store.list_runs(session, page)
    return Page[BacktestRead](
        items=[BacktestRead.model_validate(row) for row in rows], next_cursor=cursor
    )


@router.get("/{run_id}", summary="One backtest", response_model=BacktestRead)
async def get_backtest(run_id: RunId, session: SessionDep, _: ReadAccess) -> BacktestRead:
    """The run's status, progress, request, metrics and notes."""
    row = await store.get_run(session, run_id)
    if row is None:
        raise UnknownBacktest(f"no backtest {run_id!r}")
    return BacktestRead.model_validate(row)


@router.delete("/{run_id}", summary="Cancel a running backtest", response_model=BacktestRead)
async def cancel_backtest(
    run_id: RunId, container: ContainerDep, session: SessionDep, _: FullAccess
) -> BacktestRead:
    """Stop the run between two cycles; answers once it has recorded ``cancelled``.

    The row is read after the run stopped, so the answer shows how it ended.
    """
    stopped = await _jobs(container).cancel(run_id)
    row = await store.get_run(session, run_id)
    if row is None:
        raise UnknownBacktest(f"no backtest {run_id!r}")
    if not stopped:
        raise BacktestFinished(f"backtest {run_id} has already ended ({row.status})")
    return BacktestRead.model_validate(row)


async def _series(
    session: SessionDep, run_id: str, series: store.Series, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    offset = _offset(cursor) if cursor is not None else 0
    found, rows = await store.get_series(session, run_id, series)
    if not found:
        raise UnknownBacktest(f"no backtest {run_id!r}")
    if rows is None:
        row = await store.get_run(session, run_id)
        if row is not None and row.status == "running":
            raise BacktestRunning(f"backtest {run_id} is running: its {series} come at its end")
        rows = []
    page = rows[offset : offset + limit]
    if offset + limit >= len(rows):
        return page, None
    return page, encode_cursor(datetime.fromisoformat(page[-1]["at"]), offset + limit)


def _offset(cursor: str) -> int:
    # A finished run's lists never change, so the position is a stable key; the cursor has
    # the shape of every other list's (time of the last item, key) and is checked the same.
    _, key = decode_cursor(cursor)
    if not key.isdigit() or len(key) > 9:
        raise InvalidCursor("the cursor is not one this service handed out")
    return int(key)


class BacktestRunning(AppError):
    """The run has not ended: its results are written when it does."""

    status_code = 409
    code = "backtest_running"


def _page[M: BaseModel](model: type[M], rows: list[Any], cursor: str | None) -> SeriesPage[M]:
    return SeriesPage[model](  # type: ignore[valid-type]
        items=[model.model_validate(row) for row in rows], next_cursor=cursor
    )


@router.get("/{run_id}/trades", summary="A backtest's fills", response_model=SeriesPage[TradeRead])
async def backtest_trades(
    run_id: RunId, session: SessionDep, _: ReadAccess, limit: Limit = 500, cursor: Cursor = None
) -> SeriesPage[TradeRead]:
    """Every fill of the run, oldest first, with its order's purpose (entry, stop...)."""
    rows, next_cursor = await _series(session, run_id, "trades", limit, cursor)
    return _page(TradeRead, rows, next_cursor)


@router.get(
    "/{run_id}/equity", summary="A backtest's equity curve", response_model=SeriesPage[EquityRead]
)
async def backtest_equity(
    run_id: RunId, session: SessionDep, _: ReadAccess, limit: Limit = 500, cursor: Cursor = None
) -> SeriesPage[EquityRead]:
    """The run's account after every cycle, oldest first."""
    rows, next_cursor = await _series(session, run_id, "equity", limit, cursor)
    return _page(EquityRead, rows, next_cursor)


@router.get(
    "/{run_id}/decisions",
    summary="A backtest's decisions",
    response_model=SeriesPage[DecisionRead],
)
async def backtest_decisions(
    run_id: RunId, session: SessionDep, _: ReadAccess, limit: Limit = 500, cursor: Cursor = None
) -> SeriesPage[DecisionRead]:
    """Every decision cycle of the run, oldest first (outcome, summary, legs, LLM cost)."""
    rows, next_cursor = await _series(session, run_id, "decisions", limit, cursor)
    return _page(DecisionRead, rows, next_cursor)
