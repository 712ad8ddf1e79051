"""Historical backfill of funding rates (the funding half of :mod:`app.market_data.backfill`).

Funding has no fixed grid (a symbol settles every 1, 4 or 8 hours), so its holes are found
from the stored times: a stretch longer than the shortest spacing seen (one hour when there
is nothing to compare) is fetched again, from the first hole to the last, in pages.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Final, Protocol

from sqlalchemy import select

from app.db.session import SessionFactory, session_scope
from app.exchange.types import FundingRate
from app.market_data import snapshots_repository as snapshot_repo
from app.market_data.models import FundingRateRow

FUNDING_PAGE: Final = 1000
"""Rows per ``fundingRate`` request (the endpoint's maximum ``limit``)."""
_SHORTEST_FUNDING: Final = timedelta(hours=1)
_MS: Final = timedelta(milliseconds=1)


class FundingSource(Protocol):
    """The exchange's funding history endpoint."""

    async def funding_rates(
        self,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[FundingRate]:
        """Settled funding rates from ``start`` to ``end`` (inclusive), oldest first."""
        ...


async def fill_funding(
    source: FundingSource,
    sessions: SessionFactory,
    symbol: str,
    start: datetime,
    end: datetime,
) -> tuple[int, int]:
    """Fetch the funding rates of ``[start, end)`` that are not stored.

    Args:
        source: The exchange's funding history.
        sessions: Where the rates go; each page is committed as it lands.
        symbol: Exchange symbol.
        start: First instant of the window (UTC).
        end: End of the window, exclusive (UTC).

    Returns:
        How many rates were new, and how many requests were sent.
    """
    if end <= start:
        return 0, 0
    async with session_scope(sessions) as session:
        stored = sorted(
            _utc(moment)
            for moment in await session.scalars(
                select(FundingRateRow.funding_time).where(
                    FundingRateRow.symbol == symbol,
                    FundingRateRow.funding_time >= start,
                    FundingRateRow.funding_time < end,
                )
            )
        )
    span = funding_span(stored, start, end)
    if span is None:
        return 0, 0
    cursor, stop = span
    known = set(stored)
    new = 0
    requests = 0
    while cursor < stop:
        page = await source.funding_rates(symbol, start=cursor, end=stop - _MS, limit=FUNDING_PAGE)
        requests += 1
        rates: list[tuple[datetime, Decimal]] = [
            (rate.time, rate.rate)
            for rate in page
            if rate.symbol == symbol and start <= rate.time < end and rate.time not in known
        ]
        if rates:
            async with session_scope(sessions) as session:
                await snapshot_repo.save_funding_rates(session, symbol, rates)
            known.update(moment for moment, _ in rates)
            new += len(rates)
        if len(page) < FUNDING_PAGE:
            break
        cursor = page[-1].time + _MS
    return new, requests


def funding_span(
    stored: Sequence[datetime], start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The stretch ``[from, to)`` of ``[start, end)`` still to fetch, or None when complete.

    ``stored`` are the funding times held in the window, sorted. The shortest spacing among
    them is taken as the symbol's funding period (one hour, the shortest there is, without
    two to compare); any longer stretch without a row, at either end too, is a hole.
    """
    if not stored:
        return start, end
    spacings = [b - a for a, b in pairwise(stored)]
    period = min(spacings) if spacings else _SHORTEST_FUNDING
    holes: list[tuple[datetime, datetime]] = []
    if stored[0] - period >= start:
        holes.append((start, stored[0]))
    holes.extend((a + _MS, b) for a, b in pairwise(stored) if b - a > period)
    if end - stored[-1] > period:
        holes.append((stored[-1] + _MS, end))
    if not holes:
        return None
    return holes[0][0], holes[-1][1]


def _utc(moment: datetime) -> datetime:
    # SQLite hands times back naive; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
