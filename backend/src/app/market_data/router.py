"""``/api/v1/market``: stored candles (optionally resampled) and indicator snapshots."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import ReadAccess
from app.api.deps import ContainerDep, SessionDep
from app.api.errors import API_ERRORS
from app.api.pagination import UtcQueryTime
from app.market_data import query
from app.market_data.schemas import CandlesRead, IndicatorSeriesRead, IndicatorsRead
from app.market_data.symbols import symbol_for

router = APIRouter(prefix="/api/v1/market", tags=["market"])


def _known_symbols(container: ContainerDep) -> set[str]:
    return {
        symbol_for(asset) for account in container.settings.accounts for asset in account.assets
    }


@router.get(
    "/{symbol}/candles", summary="Closed candles, optionally resampled", responses=API_ERRORS
)
async def get_candles(
    symbol: str,
    container: ContainerDep,
    session: SessionDep,
    _: ReadAccess,
    interval: Annotated[str, Query(description="Stored interval, e.g. 1h")] = "1h",
    start: Annotated[UtcQueryTime | None, Query(description="First open time")] = None,
    end: Annotated[UtcQueryTime | None, Query(description="Last open time")] = None,
    limit: Annotated[int, Query(ge=1, le=query.MAX_LIMIT)] = 500,
    bucket: Annotated[
        str | None, Query(description="Resample into bins of this width, e.g. 4h (SQL date_bin)")
    ] = None,
) -> CandlesRead:
    """Stored closed candles of ``symbol``, oldest first (the newest ``limit`` without start)."""
    name = query.check_symbol(symbol, _known_symbols(container))
    return await query.candles(
        session, name, interval, start=start, end=end, limit=limit, bucket=bucket
    )


@router.get("/{symbol}/indicators", summary="Latest indicator snapshot", responses=API_ERRORS)
async def get_indicators(
    symbol: str,
    container: ContainerDep,
    session: SessionDep,
    _: ReadAccess,
    interval: Annotated[str, Query(description="e.g. 1h")] = "1h",
    at: Annotated[UtcQueryTime | None, Query(description="Snapshot at or before this time")] = None,
) -> IndicatorsRead:
    """Indicator values and recent series as the agent saw them."""
    name = query.check_symbol(symbol, _known_symbols(container))
    return await query.indicators(session, name, interval, at=at)


@router.get(
    "/{symbol}/indicator-series",
    summary="Indicator lines over the newest candles (chart overlays)",
    responses=API_ERRORS,
)
async def get_indicator_series(
    symbol: str,
    container: ContainerDep,
    session: SessionDep,
    _: ReadAccess,
    interval: Annotated[str, Query(description="Stored interval, e.g. 1h")] = "1h",
    limit: Annotated[int, Query(ge=1, le=2000)] = 300,
) -> IndicatorSeriesRead:
    """EMA 20/50/200 and the Bollinger bands over the newest ``limit`` closed candles.

    Computed with the agent's own indicator code over the candles and their warm-up.
    """
    name = query.check_symbol(symbol, _known_symbols(container))
    return await query.indicator_series(session, name, interval, limit=limit)
