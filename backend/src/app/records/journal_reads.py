"""What recovery reads back from the journal: orders still in flight, the newest fill."""

from datetime import datetime

from sqlalchemy import func, select

from app.agent.ports import IN_FLIGHT, OPEN, PendingOrder
from app.db.session import SessionFactory, session_scope
from app.trading.models import Fill, Order


class JournalReads:
    """Read-side queries of the journal used by recovery (mixed into ``Journal``), of its run."""

    _sessions: SessionFactory
    _run_id: str

    async def _load_pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first."""
        async with session_scope(self._sessions) as session:
            rows = await session.scalars(
                select(Order)
                .where(
                    Order.run_id == self._run_id,
                    Order.account_id == account_id,
                    Order.status.in_(IN_FLIGHT + OPEN),
                )
                .order_by(Order.created_at)
            )
            return [
                PendingOrder(
                    row.client_order_id,
                    row.symbol,
                    row.status,
                    row.purpose,
                    datetime.fromisoformat(row.status_history[0]["at"]),
                )
                for row in rows
            ]

    async def last_fill_time(self, account_id: str) -> datetime | None:
        """When the account's newest journaled fill happened."""
        async with session_scope(self._sessions) as session:
            newest: datetime | None = await session.scalar(
                select(func.max(Fill.filled_at)).where(
                    Fill.run_id == self._run_id, Fill.account_id == account_id
                )
            )
            return newest
