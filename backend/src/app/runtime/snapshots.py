"""Snapshots for WebSocket subscribers: the current state of a channel, before its events.

Account channels answer from the account's exchange (positions, balances) and the journal
(orders, fills, decisions, events); market channels with the newest stored candle; a
backtest's channel with the run as ``GET /api/v1/backtests/{id}`` shows it. The same
views as the REST endpoints, so a dashboard sees one shape either way.
"""

from dataclasses import asdict
from typing import Any

from app.api.views import BalanceRead, positions_read
from app.backtest import store as backtests
from app.backtest.schemas import BacktestRead
from app.core.types import AccountId
from app.db.paging import PageRequest
from app.db.session import session_scope
from app.market_data import repository as candles
from app.records import queries
from app.runtime.container import Container
from app.streaming.channels import parse_channel

RECENT = 20


class StreamSnapshots:
    """The :data:`~app.streaming.bus.SnapshotSource` of the service."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def __call__(self, channel: str) -> Any:
        """The current state of ``channel`` as JSON-able data (None when unknown)."""
        parsed = parse_channel(channel)
        if parsed.run_id is not None:
            return await self._backtest(parsed.run_id)
        if parsed.account_id is not None:
            return await self._account(parsed.account_id, parsed.topic)
        if parsed.symbol is None:
            return None
        async with session_scope(self._container.sessions) as session:
            newest = await candles.fetch_candles(
                session, parsed.symbol, parsed.topic, limit=1, latest=True
            )
        return asdict(newest[-1]) if newest else None

    async def _backtest(self, run_id: str) -> Any:
        """A backtest's status, progress and (once it ended) metrics, as ``GET`` shows it."""
        async with session_scope(self._container.sessions) as session:
            row = await backtests.get_run(session, run_id)
        return BacktestRead.model_validate(row).model_dump(mode="json") if row else None

    async def _account(self, account: str, topic: str) -> Any:
        container = self._container
        known = {a.id for a in container.settings.accounts}
        loop = container.supervisor.loop(AccountId(account)) if account in known else None
        if topic == "positions":
            if loop is None:
                return []
            state = await loop.exchange.account_state()
            orders = await loop.exchange.open_orders()
            return [p.model_dump(mode="json") for p in positions_read(state, orders, loop.theses())]
        async with session_scope(container.sessions) as session:
            if topic == "equity":
                snapshot = await queries.latest_equity(session, account)
                return (
                    BalanceRead.from_snapshot(snapshot).model_dump(mode="json")
                    if snapshot is not None
                    else None
                )
            page = PageRequest(limit=RECENT)
            rows: Any
            if topic == "orders":
                rows, _ = await queries.orders(session, account, page, open_only=True)
            elif topic == "fills":
                rows, _ = await queries.fills(session, account, page)
            elif topic == "decisions":
                rows, _ = await queries.decisions(session, account, PageRequest(limit=5))
            elif topic == "events":
                rows, _ = await queries.events(session, account, page)
            else:
                return None
            return [_row(r) for r in rows]


def _row(row: Any) -> dict[str, Any]:
    """An ORM row's columns (the bus makes the values JSON-safe)."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
