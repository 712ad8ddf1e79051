"""Startup recovery: what a restarted loop reads back before its first cycle.

A loop may start after a crash at any point of a cycle: intent journaled but not sent, sent
but unanswered, filled but the fill not recorded. Before deciding anything it

1. reloads the thesis (invalidation, stop, target) of every open position from the journal;
2. resolves every in-flight order by its client id (never sending it again blindly);
3. records every fill since the newest journaled one (so none is lost);
4. checks every position's protection, re-arming it or adopting / flattening positions the
   service did not open (see :mod:`app.agent.guardian`).
"""

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from app.agent.guardian import GuardReport
from app.agent.ports import Journal
from app.agent.theses import Thesis
from app.trading.invalidation import InvalidationError, parse_condition

logger = logging.getLogger(__name__)
MAX_LOOKBACK = timedelta(days=7)


async def load_theses(
    journal: Journal,
    account_id: str,
    symbols: Sequence[str],
    *,
    features: Collection[str],
    intervals: Collection[str],
) -> dict[str, Thesis]:
    """The thesis of each open position in ``symbols``, from its newest filled entry."""
    theses: dict[str, Thesis] = {}
    if not symbols:
        return theses
    for symbol, saved in (await journal.entry_theses(account_id, symbols)).items():
        condition = None
        if saved.invalidation:
            try:
                condition = parse_condition(
                    saved.invalidation, features=features, intervals=intervals
                )
            except InvalidationError as exc:
                logger.warning("%s: stored invalidation no longer parses: %s", symbol, exc)
        theses[symbol] = Thesis(
            condition,
            saved.rationale,
            saved.stop_loss,
            saved.take_profit,
            saved.opened_at,
        )
    return theses


async def fills_since(journal: Journal, account_id: str, default: datetime) -> datetime:
    """Where to look for fills after a restart: the newest journaled fill or in-flight order.

    Journaling fills is idempotent on the trade id, so looking from the newest recorded fill
    (inclusive) loses nothing and duplicates nothing. The look-back is capped at seven days,
    the longest window AsterDEX's ``userTrades`` answers.
    """
    candidates = [default]
    newest = await journal.last_fill_time(account_id)
    if newest is not None:
        candidates.append(newest)
    pending = await journal.pending_orders(account_id)
    if pending:
        candidates.append(min(p.intent_at for p in pending))
    return max(min(candidates), default - MAX_LOOKBACK)


async def record_recovery(
    journal: Journal, account_id: str, report: GuardReport, fills: int, at: datetime
) -> None:
    """Journal what a recovery changed (nothing when it changed nothing)."""
    if not report and not fills:
        return
    await journal.event(
        account_id,
        "recovery",
        at=at,
        message=f"startup reconciliation: {len(report.resolved)} order(s) resolved, {fills} "
        f"fill(s) recorded, protection re-armed for {report.rearmed or 'none'}, "
        f"adopted {report.adopted or 'none'}, flattened {report.flattened or 'none'}",
        severity="warning" if report else "info",
        payload={
            "resolved": report.resolved,
            "fills": fills,
            "rearmed": report.rearmed,
            "adopted": report.adopted,
            "flattened": report.flattened,
            "cancelled": report.cancelled,
        },
    )
