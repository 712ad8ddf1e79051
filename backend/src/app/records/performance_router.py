"""``/api/v1/accounts/{id}/performance``: equity curve (bucketed in SQL) and trading metrics."""

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app.api.auth import ReadAccess
from app.api.deps import AccountDep, SessionDep
from app.api.errors import API_ERRORS
from app.api.pagination import UtcQueryTime
from app.core.decimals import PlainDecimal
from app.core.errors import AppError
from app.core.types import KLINE_INTERVALS_MS
from app.records.performance_queries import (
    TooManyPoints,
    equity_curve,
    performance_inputs,
)
from app.trading.performance import compute_metrics

router = APIRouter(prefix="/api/v1/accounts/{account_id}", responses=API_ERRORS)
_PLACES = Decimal("0.00000001")


class InvalidRange(AppError):
    """The range or bucket cannot be answered."""

    status_code = 422
    code = "invalid_range"


class EquityPointRead(BaseModel):
    """The last equity snapshot of one bucket."""

    at: AwareDatetime
    equity: PlainDecimal


class PerformanceRead(BaseModel):
    """How the account has done over the range."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bucket": "1h",
                    "return_pct": "3.2",
                    "max_drawdown_pct": "1.8",
                    "sharpe": 1.4,
                    "win_rate": "0.55",
                    "trades": 20,
                }
            ]
        }
    )

    bucket: str
    curve: list[EquityPointRead]
    start_equity: PlainDecimal | None
    end_equity: PlainDecimal | None
    return_pct: PlainDecimal | None = Field(description="Percent (20 means +20 %)")
    max_drawdown_pct: PlainDecimal | None = Field(description="Percent, peak to trough")
    sharpe: float | None = Field(description="Annualised over the bucket's returns")
    sortino: float | None
    win_rate: PlainDecimal | None = Field(
        description="Share of round trips (open to flat) with a net PnL after fees above 0 (0-1)"
    )
    profit_factor: PlainDecimal | None = Field(
        description="Net profit over net loss of the round trips (after fees)"
    )
    trades: int = Field(description="Round trips closed in the range (open to flat)")
    realized_pnl: PlainDecimal
    unrealized_pnl: PlainDecimal
    fees: PlainDecimal
    funding: PlainDecimal
    llm_cost_usd: PlainDecimal
    decisions: int
    cost_per_decision: PlainDecimal | None


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_PLACES).normalize()


@router.get("/performance", tags=["performance"], summary="Equity curve and metrics")
async def get_performance(
    account: AccountDep,
    session: SessionDep,
    _: ReadAccess,
    bucket: Annotated[
        str, Query(description="Curve resolution, a kline interval such as 1h or 1d")
    ] = "1h",
    start: Annotated[UtcQueryTime | None, Query(description="From (inclusive)")] = None,
    end: Annotated[
        UtcQueryTime | None,
        Query(description="To (exclusive, like the lists); equal to start: an empty range"),
    ] = None,
) -> PerformanceRead:
    """How the account has done over the range.

    Return, drawdown, Sharpe, Sortino, win rate, profit factor, PnL, fees, funding, LLM
    cost and cost per decision; the curve is bucketed in SQL (``date_bin``). The range is
    ``start <= t < end``, as on every list, so the same bounds select the same records;
    ``start == end`` selects none, ``start`` after ``end`` is a 422.
    """
    if bucket not in KLINE_INTERVALS_MS:
        raise InvalidRange(f"bucket must be one of {', '.join(KLINE_INTERVALS_MS)}")
    if start is not None and end is not None and start > end:
        raise InvalidRange("start is after end")
    width = timedelta(milliseconds=KLINE_INTERVALS_MS[bucket])
    try:
        curve = await equity_curve(session, account, bucket=width, start=start, end=end)
    except TooManyPoints as exc:
        raise InvalidRange(str(exc)) from None
    inputs = await performance_inputs(session, account, start=start, end=end)
    metrics = compute_metrics(
        curve,
        bucket=width,
        realized=inputs.realized,
        trips=inputs.trips,
        fees=inputs.fees,
        funding=inputs.funding,
        unrealized=inputs.unrealized,
        llm_cost=inputs.llm_cost,
        decisions=inputs.decisions,
    )
    return PerformanceRead(
        bucket=bucket,
        curve=[EquityPointRead(at=p.at, equity=_q(p.equity) or Decimal(0)) for p in curve],
        start_equity=_q(metrics.start_equity),
        end_equity=_q(metrics.end_equity),
        return_pct=_q(metrics.return_pct),
        max_drawdown_pct=_q(metrics.max_drawdown_pct),
        sharpe=metrics.sharpe,
        sortino=metrics.sortino,
        win_rate=_q(metrics.win_rate),
        profit_factor=_q(metrics.profit_factor),
        trades=metrics.trades,
        realized_pnl=_q(metrics.realized_pnl) or Decimal(0),
        unrealized_pnl=_q(metrics.unrealized_pnl) or Decimal(0),
        fees=_q(metrics.fees) or Decimal(0),
        funding=_q(metrics.funding) or Decimal(0),
        llm_cost_usd=_q(metrics.llm_cost_usd) or Decimal(0),
        decisions=metrics.decisions,
        cost_per_decision=_q(metrics.cost_per_decision),
    )
