"""Historical backfill: klines, mark-price klines and funding rates over a date window.

For backtests that reach further back than the bundled sample (``trading-agent backfill``).
Every series is walked in pages of the endpoint's limit on the interval grid. A page whose
bars are all stored costs one query and no request, so a second identical run asks the
exchange for nothing, and an interrupted run (each page is committed as it lands) resumes
at the first page with a hole. Only bars closed by the clock's "now" are stored, never the
forming one; writes are idempotent on each table's key.

Funding history is walked by :mod:`app.market_data.backfill_funding`.
"""

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.types import KLINE_INTERVALS_MS, interval_delta, last_closed_open
from app.db.session import SessionFactory, session_scope
from app.db.upsert import insert_ignore
from app.exchange.types import Kline
from app.market_data import repository as repo
from app.market_data.backfill_funding import FundingSource, fill_funding
from app.market_data.models import MarkCandle

logger = logging.getLogger(__name__)

KLINES_PAGE: Final = 1500
"""Bars per ``klines`` / ``markPriceKlines`` request (the endpoints' maximum ``limit``)."""
BACKFILL_INTERVALS: Final = tuple(
    name for name, length in KLINE_INTERVALS_MS.items() if length <= 86_400_000
)
"""Intervals a backfill accepts: up to a day, whose bars sit on a grid from the epoch
(weekly and monthly bars do not)."""


class BackfillSource(FundingSource, Protocol):
    """The exchange's history endpoints (:class:`~app.exchange.http.client.AsterdexClient`)."""

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """One page of candles from ``start`` to ``end`` (open times, inclusive)."""
        ...

    async def mark_price_klines(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """One page of mark-price candles from ``start`` to ``end`` (inclusive)."""
        ...


ProgressSink = Callable[[int, int, Mapping[str, object]], None]
"""Told ``(done, total, fields)`` as units complete (``ProgressReporter.advance``)."""


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    """What to backfill.

    Attributes:
        symbols: Exchange symbols (``BTCUSDT``).
        intervals: Kline intervals, each one of :data:`BACKFILL_INTERVALS`.
        start: First instant of the window (UTC).
        end: End of the window, exclusive (UTC); capped at the clock's now when run.
    """

    symbols: tuple[str, ...]
    intervals: tuple[str, ...]
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        unknown = [i for i in self.intervals if i not in BACKFILL_INTERVALS]
        if unknown:
            raise ValueError(f"unsupported interval(s): {', '.join(unknown)}")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the window's times must be timezone-aware")
        if self.start >= self.end:
            raise ValueError("the window must start before it ends")


@dataclass(slots=True)
class BackfillResult:
    """What a backfill stored and how many requests it made.

    Attributes:
        candles: New rows in ``candles``.
        mark_candles: New rows in ``mark_candles``.
        funding_rates: New rows in ``funding_rates``.
        requests: History requests sent to the exchange.
    """

    candles: int = 0
    mark_candles: int = 0
    funding_rates: int = 0
    requests: int = 0


class _KlinesEndpoint(Protocol):
    """A kline history request: :meth:`BackfillSource.klines` or its mark-price twin."""

    async def __call__(
        self,
        symbol: str,
        interval: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]: ...


class _Series(Protocol):
    """One kind of kline table: what it holds already, how to fetch and store more."""

    name: str

    async def missing(
        self, session: AsyncSession, symbol: str, interval: str, first: datetime, last: datetime
    ) -> list[datetime]: ...

    def endpoint(self, source: BackfillSource) -> _KlinesEndpoint:
        """The source's history request for this table (``klines`` or ``markPriceKlines``)."""
        ...

    async def save(self, session: AsyncSession, candles: Sequence[Kline]) -> None: ...


def _page_limit(first: datetime, last: datetime, step: timedelta) -> int:
    return (last - first) // step + 1


async def _fetch_page(
    endpoint: _KlinesEndpoint, symbol: str, interval: str, first: datetime, last: datetime
) -> list[Kline]:
    """One page of bars from ``first`` to ``last`` (open times, inclusive)."""
    limit = _page_limit(first, last, interval_delta(interval))
    return await endpoint(symbol, interval, start=first, end=last, limit=limit)


class _Candles:
    name = "candles"

    async def missing(
        self, session: AsyncSession, symbol: str, interval: str, first: datetime, last: datetime
    ) -> list[datetime]:
        return await repo.missing_open_times(session, symbol, interval, first, last)

    def endpoint(self, source: BackfillSource) -> _KlinesEndpoint:
        return source.klines

    async def save(self, session: AsyncSession, candles: Sequence[Kline]) -> None:
        await repo.upsert_candles(session, candles)


class _MarkCandles:
    name = "mark_candles"

    async def missing(
        self, session: AsyncSession, symbol: str, interval: str, first: datetime, last: datetime
    ) -> list[datetime]:
        stored = {
            _utc(moment)
            for moment in await session.scalars(
                select(MarkCandle.open_time).where(
                    MarkCandle.symbol == symbol,
                    MarkCandle.interval == interval,
                    MarkCandle.open_time.between(first, last),
                )
            )
        }
        step = interval_delta(interval)
        count = _page_limit(first, last, step)
        return [t for t in (first + step * i for i in range(count)) if t not in stored]

    def endpoint(self, source: BackfillSource) -> _KlinesEndpoint:
        return source.mark_price_klines

    async def save(self, session: AsyncSession, candles: Sequence[Kline]) -> None:
        await insert_ignore(
            session,
            MarkCandle,
            [
                {
                    "symbol": c.symbol,
                    "interval": c.interval,
                    "open_time": c.open_time,
                    "open": c.open,
                    "high": c.high,
                    "low": c.low,
                    "close": c.close,
                }
                for c in candles
            ],
        )


_SERIES: Final[tuple[_Series, ...]] = (_Candles(), _MarkCandles())


def grid_window(
    start: datetime, end: datetime, interval: str, now: datetime
) -> tuple[datetime, datetime] | None:
    """Open times of the first and last closed bar inside ``[start, end)``, or None if none.

    A bar is inside when it opens at or after ``start`` and before ``end``; it is closed
    when it ends by ``now``.
    """
    step_ms = KLINE_INTERVALS_MS[interval]
    start_ms, end_ms = _to_ms(start), _to_ms(end)
    first = -(-start_ms // step_ms) * step_ms
    last = min((end_ms - 1) // step_ms * step_ms, _to_ms(last_closed_open(now, interval)))
    if last < first:
        return None
    return _from_ms(first), _from_ms(last)


async def backfill(
    plan: BackfillPlan,
    source: BackfillSource,
    sessions: SessionFactory,
    clock: Clock,
    *,
    progress: ProgressSink | None = None,
) -> BackfillResult:
    """Store the plan's closed klines, mark-price klines and funding rates; resume as needed.

    Progress counts bars (each series' bars in the window, once for klines and once for
    mark-price klines) plus one unit per symbol's funding history.

    Raises:
        ExchangeError: The exchange failed past the client's retries; what was stored so far
            stays, and the same call resumes from there.
        DatabaseError: The database failed (likewise resumable).
    """
    now = clock.now()
    windows = {
        interval: grid_window(plan.start, plan.end, interval, now) for interval in plan.intervals
    }
    bars = {
        interval: _page_limit(*window, interval_delta(interval)) if window else 0
        for interval, window in windows.items()
    }
    total = sum(bars.values()) * len(plan.symbols) * len(_SERIES) + len(plan.symbols)
    result = BackfillResult()
    done = 0

    def report(fields: Mapping[str, object]) -> None:
        if progress is not None:
            progress(done, total, fields)

    for symbol in plan.symbols:
        for interval, window in windows.items():
            if window is None:  # no closed bar of this interval inside the window
                continue
            for series in _SERIES:
                async for page_bars, new in _fill_series(
                    series, source, sessions, symbol, interval, window, result
                ):
                    done += page_bars
                    report({"series": f"{symbol} {interval} {series.name}", "new": new})
        new_funding, requests = await fill_funding(
            source, sessions, symbol, plan.start, min(plan.end, now)
        )
        result.funding_rates += new_funding
        result.requests += requests
        done += 1
        report({"series": f"{symbol} funding", "new": new_funding})
    return result


async def _fill_series(
    series: _Series,
    source: BackfillSource,
    sessions: SessionFactory,
    symbol: str,
    interval: str,
    window: tuple[datetime, datetime],
    result: BackfillResult,
) -> AsyncIterator[tuple[int, int]]:
    """Walk one series page by page; yield ``(bars in the page, new rows)`` per page."""
    step = interval_delta(interval)
    page_start, last = window
    while page_start <= last:
        page_end = min(page_start + step * (KLINES_PAGE - 1), last)
        async with session_scope(sessions) as session:
            missing = await series.missing(session, symbol, interval, page_start, page_end)
        new = 0
        if missing:
            fetched = await _fetch_page(
                series.endpoint(source), symbol, interval, missing[0], missing[-1]
            )
            result.requests += 1
            wanted = set(missing)
            # Only closed bars on the grid that are not stored yet: never the forming bar,
            # and nothing outside the page (a server may answer more than was asked).
            keep = [c for c in fetched if c.closed and c.open_time in wanted]
            keep = list({c.open_time: c for c in keep}.values())
            if keep:
                async with session_scope(sessions) as session:
                    await series.save(session, keep)
            new = len(keep)
            if series.name == "candles":
                result.candles += new
            else:
                result.mark_candles += new
            if len(keep) < len(missing):
                logger.info(
                    "%s %s %s: the exchange has no bar for %d of %d open times from %s",
                    symbol,
                    interval,
                    series.name,
                    len(missing) - len(keep),
                    len(missing),
                    missing[0].isoformat(),
                )
        yield _page_limit(page_start, page_end, step), new
        page_start = page_end + step


def _to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _utc(moment: datetime) -> datetime:
    # SQLite hands times back naive; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
