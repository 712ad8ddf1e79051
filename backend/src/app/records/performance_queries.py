"""SQL behind an account's performance: the bucketed equity curve and the metrics' inputs.

Ranges are half-open (``start <= t < end``), like every list of the REST API
(:func:`app.db.paging.fetch_page`), so the same ``start``/``end`` means the same records on
``/performance`` and on the lists, and consecutive ranges never count a record twice. An open
bound (None) does not filter; ``start == end`` is an empty range. Repositories read only; the
caller owns the session.

On PostgreSQL the equity curve is bucketed in SQL with ``date_bin`` (core PostgreSQL 14+,
so it works with or without TimescaleDB, unlike ``time_bucket``). SQLite has no
``date_bin`` and keeps datetimes and decimals as text, so there the snapshots are streamed
and bucketed in Python with the same arithmetic; SQLite is the single-user quick start, whose
history is small enough for that.

Every query reads one run (:mod:`app.trading.runs`): the account's own trading unless
``run_id`` names another, so a backtest's records never count in an account's performance.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import ColumnElement, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.agent.models import AgentEvent
from app.llm.models import LlmCall
from app.trading.models import Decision, EquitySnapshot, Fill
from app.trading.performance import EquityPoint, TradeFill, round_trips
from app.trading.runs import ACCOUNT_RUN

logger = logging.getLogger(__name__)

MAX_POINTS: Final = 5000
"""Most points :func:`equity_curve` returns: plenty for a chart, bounded for the response."""
BUCKET_ORIGIN: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Buckets are aligned to this instant (a Monday, so weekly buckets start on Mondays)."""
_ORIGIN_SQL: Final = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_ZERO: Final = Decimal(0)


class TooManyPoints(ValueError):
    """The bucket is too narrow for the range: the curve would exceed :data:`MAX_POINTS`."""


@dataclass(frozen=True, slots=True)
class PerformanceInputs:
    """What the metrics need besides the curve; fields match :func:`compute_metrics`.

    Attributes:
        realized: Realized PnL of every closing fill (non-zero values only), oldest first.
        trips: Net PnL (after fees) of every round trip that went flat in range, oldest first;
            a trip opened before ``start`` counts with all its fills.
        fees: Sum of the fees of every fill in range.
        funding: Sum of the journaled funding payments (negative when the account paid).
        unrealized: Unrealized PnL of the newest equity snapshot in range (0 without one).
        llm_cost: Sum of the decision model's cost in USD (calls without a cost count 0).
        decisions: Decision cycles in range, whatever their outcome (each one cost a call).
    """

    realized: list[Decimal]
    trips: list[Decimal]
    fees: Decimal
    funding: Decimal
    unrealized: Decimal
    llm_cost: Decimal
    decisions: int


async def equity_curve(
    session: AsyncSession,
    account_id: str,
    *,
    bucket: timedelta,
    start: datetime | None,
    end: datetime | None,
    run_id: str = ACCOUNT_RUN,
) -> list[EquityPoint]:
    """The account's equity in ``run_id``, one point per non-empty bucket, oldest first.

    Buckets are ``bucket`` wide and aligned to :data:`BUCKET_ORIGIN`; each point is the last
    snapshot of its bucket, at the snapshot's own time (not the bucket's start). Buckets
    without a snapshot yield no point.

    Raises:
        ValueError: ``bucket`` is not positive, or ``start`` is after ``end`` (``start ==
            end`` is an empty range: no points).
        TooManyPoints: With both bounds given, the range spans more than :data:`MAX_POINTS`
            buckets (checked before any query); otherwise, the snapshots fill more than
            :data:`MAX_POINTS` buckets. The caller should widen the bucket or narrow the range.
    """
    _check_range(bucket, start, end)
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        points = await _curve_in_sql(session, (run_id, account_id), bucket, start, end)
    else:
        points = await _curve_in_python(session, (run_id, account_id), bucket, start, end)
    if len(points) > MAX_POINTS:
        raise TooManyPoints(_too_many(bucket))
    return points


async def performance_inputs(
    session: AsyncSession,
    account_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    run_id: str = ACCOUNT_RUN,
) -> PerformanceInputs:
    """Sums and counts over the range in ``run_id``: fills, funding, LLM cost, decisions, PnL.

    Amounts are summed in Python because SQLite stores decimals as text (SQL ``sum`` would
    turn them into floats); the rows involved (fills, funding events, calls) are few.
    """
    realized: list[Decimal] = []
    fees = _ZERO
    fills = select(Fill.realized_pnl, Fill.fee).where(
        Fill.run_id == run_id, Fill.account_id == account_id, *_within(Fill.filled_at, start, end)
    )
    for pnl, fee in await session.execute(fills.order_by(Fill.filled_at)):
        fees += fee
        if pnl != 0:
            realized.append(pnl)
    costs = select(LlmCall.cost_usd).where(
        LlmCall.run_id == run_id,
        LlmCall.account_id == account_id,
        LlmCall.cost_usd.is_not(None),
        *_within(LlmCall.created_at, start, end),
    )
    decisions = select(func.count()).where(
        Decision.run_id == run_id,
        Decision.account_id == account_id,
        *_within(Decision.created_at, start, end),
    )
    return PerformanceInputs(
        realized=realized,
        trips=await _trips(session, (run_id, account_id), start, end),
        fees=fees,
        funding=await _funding(session, (run_id, account_id), start, end),
        unrealized=await _unrealized(session, (run_id, account_id), start, end),
        llm_cost=sum((c for c in await session.scalars(costs) if c is not None), _ZERO),
        decisions=int((await session.execute(decisions)).scalar_one()),
    )


async def _trips(
    session: AsyncSession, owner: tuple[str, str], start: datetime | None, end: datetime | None
) -> list[Decimal]:
    run_id, account_id = owner
    # From the first fill, not from ``start``: a trip closing in range may have opened before.
    query = select(
        Fill.symbol,
        Fill.side,
        Fill.quantity,
        Fill.realized_pnl,
        Fill.fee,
        Fill.filled_at,
        Fill.trade_id,
        Fill.id,
    ).where(
        Fill.run_id == run_id,
        Fill.account_id == account_id,
        *_within(Fill.filled_at, None, end),
    )
    rows = sorted(await session.execute(query), key=lambda r: _fill_order(r[5], r[6], r[7]))
    fills = [
        TradeFill(symbol, quantity if side == "BUY" else -quantity, pnl, fee, at)
        for symbol, side, quantity, pnl, fee, at, _, _ in rows
    ]
    return [t.net_pnl for t in round_trips(fills) if start is None or t.closed_at >= start]


_SEQUENCE: Final = re.compile(r"(.*?)(\d+)")


def _fill_order(
    filled_at: datetime, trade_id: str, row_id: uuid.UUID
) -> tuple[datetime, str, int, str, str]:
    """Fills in the exchange's order: by time, then by the trade id's sequence number.

    The fills of one cycle share one clock time (a stop and the next entry, say), so the tie
    decides which trip a fill belongs to. Trade ids end in the exchange's sequence number
    (``918273`` live, ``paper-10`` on paper), which must compare as a number: as text,
    ``paper-10`` comes before ``paper-9``. An id without one sorts by its text; the row id
    (random, so not the insertion order) only makes equal ids from different symbols
    deterministic.
    """
    match = _SEQUENCE.fullmatch(trade_id)
    if match is None:
        return filled_at, trade_id, -1, trade_id, str(row_id)
    return filled_at, match[1], int(match[2]), trade_id, str(row_id)


def _check_range(bucket: timedelta, start: datetime | None, end: datetime | None) -> None:
    if bucket <= timedelta(0):
        raise ValueError(f"bucket must be positive, got {bucket}")
    if start is None or end is None:
        return
    if start > end:
        raise ValueError("start must not be after end")
    # Buckets touched by [start, end), counted on the same grid date_bin uses: from the one
    # holding ``start`` to the last one starting before ``end`` (none when start == end).
    first = (start - BUCKET_ORIGIN) // bucket
    past_last = -((BUCKET_ORIGIN - end) // bucket)  # ceiling of (end - origin) / bucket
    spanned = past_last - first if start < end else 0
    if spanned > MAX_POINTS:
        raise TooManyPoints(_too_many(bucket))


def _too_many(bucket: timedelta) -> str:
    return (
        f"a {bucket} bucket gives more than {MAX_POINTS} points over this range; "
        "use a wider bucket or a shorter range"
    )


def _within(
    column: InstrumentedAttribute[datetime], start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


async def _curve_in_sql(
    session: AsyncSession,
    owner: tuple[str, str],
    bucket: timedelta,
    start: datetime | None,
    end: datetime | None,
) -> list[EquityPoint]:
    run_id, account_id = owner
    bucket_start = func.date_bin(
        literal(bucket), EquitySnapshot.taken_at, literal_column(_ORIGIN_SQL)
    ).label("bucket_start")
    # DISTINCT ON keeps the first row of each bucket in ORDER BY order: its newest snapshot.
    query = (
        select(bucket_start, EquitySnapshot.taken_at, EquitySnapshot.equity)
        .where(
            EquitySnapshot.run_id == run_id,
            EquitySnapshot.account_id == account_id,
            *_within(EquitySnapshot.taken_at, start, end),
        )
        .distinct(bucket_start)
        .order_by(bucket_start, EquitySnapshot.taken_at.desc())
        .limit(MAX_POINTS + 1)  # one more than allowed tells "too many" from "exactly enough"
    )
    rows = await session.execute(query)
    return [EquityPoint(at=taken_at, equity=equity) for _, taken_at, equity in rows]


async def _curve_in_python(
    session: AsyncSession,
    owner: tuple[str, str],
    bucket: timedelta,
    start: datetime | None,
    end: datetime | None,
) -> list[EquityPoint]:
    run_id, account_id = owner
    query = (
        select(EquitySnapshot.taken_at, EquitySnapshot.equity)
        .where(
            EquitySnapshot.run_id == run_id,
            EquitySnapshot.account_id == account_id,
            *_within(EquitySnapshot.taken_at, start, end),
        )
        .order_by(EquitySnapshot.taken_at)
    )
    # Streamed, so a long history is never held in memory whole; time order means a later
    # snapshot of the same bucket simply replaces the earlier one.
    last: dict[int, EquityPoint] = {}
    rows = await session.stream(query.execution_options(yield_per=1000))
    async for taken_at, equity in rows:
        last[(taken_at - BUCKET_ORIGIN) // bucket] = EquityPoint(at=taken_at, equity=equity)
        if len(last) > MAX_POINTS:
            await rows.close()
            break
    return list(last.values())


async def _funding(
    session: AsyncSession, owner: tuple[str, str], start: datetime | None, end: datetime | None
) -> Decimal:
    run_id, account_id = owner
    query = select(AgentEvent.payload).where(
        AgentEvent.run_id == run_id,
        AgentEvent.account_id == account_id,
        AgentEvent.type == "funding",
        *_within(AgentEvent.occurred_at, start, end),
    )
    total = _ZERO
    for payload in await session.scalars(query):
        amount = _amount(payload)
        if amount is None:
            # One bad journal row must not take the whole performance page down.
            logger.warning("funding event of %s without a valid amount: %r", account_id, payload)
            continue
        total += amount
    return total


def _amount(payload: dict[str, Any]) -> Decimal | None:
    try:
        amount = Decimal(str(payload["amount"]))
    except (KeyError, TypeError, InvalidOperation):
        return None
    return amount if amount.is_finite() else None


async def _unrealized(
    session: AsyncSession, owner: tuple[str, str], start: datetime | None, end: datetime | None
) -> Decimal:
    run_id, account_id = owner
    query = (
        select(EquitySnapshot.unrealized_pnl)
        .where(
            EquitySnapshot.run_id == run_id,
            EquitySnapshot.account_id == account_id,
            *_within(EquitySnapshot.taken_at, start, end),
        )
        .order_by(EquitySnapshot.taken_at.desc())
        .limit(1)
    )
    value = (await session.execute(query)).scalar_one_or_none()
    return value if value is not None else _ZERO
