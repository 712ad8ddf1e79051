"""An account's recorded decisions read back from the database, for a decision replay."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.backtest.recorded import NoRecordedDecisions, RecordedDecision, notes_of
from app.core.types import interval_delta
from app.db.session import SessionFactory, session_scope
from app.trading.models import Decision, DecisionLeg, EquitySnapshot
from app.trading.runs import ACCOUNT_RUN


@dataclass(frozen=True, slots=True)
class AccountHistory:
    """An account's recorded decisions and the window they cover.

    Attributes:
        decisions: Its decisions, oldest first.
        start: The first decision's close (the replay's start).
        end: Just after the last decision's close (the replay's end, exclusive).
        balance: The account's equity at (or just before) its first decision, if recorded.
    """

    decisions: list[RecordedDecision]
    start: datetime
    end: datetime
    balance: Decimal | None


async def account_history(
    sessions: SessionFactory,
    account_id: str,
    interval: str,
    *,
    assets: Sequence[str] = (),
    run_id: str = ACCOUNT_RUN,
) -> AccountHistory:
    """An account's own decisions from the database (its run ``account`` by default).

    Args:
        sessions: The database.
        account_id: The account.
        interval: Its decision interval (a decision's close is its candle time plus one).
        assets: Its symbols in their configured order (the legs come back in that order;
            other symbols after them, by name).
        run_id: The run whose decisions to read.

    Raises:
        NoRecordedDecisions: The account has no decision with a candle time in that run.
    """
    async with session_scope(sessions) as session:
        rows = list(
            await session.scalars(
                select(Decision)
                .where(
                    Decision.run_id == run_id,
                    Decision.account_id == account_id,
                    Decision.candle_time.is_not(None),
                )
                .order_by(Decision.created_at, Decision.candle_time)
            )
        )
        if not rows:
            raise NoRecordedDecisions(f"account {account_id} has no recorded decision")
        legs: dict[Any, list[DecisionLeg]] = {}
        for leg in await session.scalars(
            select(DecisionLeg).where(DecisionLeg.decision_id.in_([r.id for r in rows]))
        ):
            legs.setdefault(leg.decision_id, []).append(leg)
        balance = await session.scalar(
            select(EquitySnapshot.equity)
            .where(
                EquitySnapshot.run_id == run_id,
                EquitySnapshot.account_id == account_id,
                EquitySnapshot.taken_at <= rows[0].created_at,
            )
            .order_by(EquitySnapshot.taken_at.desc())
            .limit(1)
        )
    rank = _asset_rank(assets)
    decisions = [
        RecordedDecision(
            _when(row.candle_time),
            row.provider,
            row.model,
            row.prompt_version,
            row.status == "decided",
            row.summary,
            tuple(
                leg.requested
                for leg in sorted(legs.get(row.id, []), key=lambda leg: rank(leg.symbol))
            ),
            notes_of(row.parsed),
            row.validation_error,
        )
        for row in rows
    ]
    step = interval_delta(interval)
    times = [d.candle_time for d in decisions]
    return AccountHistory(decisions, min(times) + step, max(times) + 2 * step, balance)


def _when(value: datetime | None) -> datetime:
    if value is None:  # filtered out by the query
        raise NoRecordedDecisions("a decision without a candle time")
    return value


def _asset_rank(assets: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    order: dict[str, int] = {}
    for index, asset in enumerate(assets):
        name = asset.strip().upper()
        order.setdefault(name, index)
        order.setdefault(f"{name}USDT", index)

    def rank(symbol: str) -> tuple[int, str]:
        return order.get(symbol.upper(), len(order)), symbol

    return rank
