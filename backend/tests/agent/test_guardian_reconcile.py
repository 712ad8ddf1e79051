"""Reconciliation writes an order's status only when the exchange or the journal moved.

The guardian asks about every pending order at every cycle; an order still working is
written again only when the exchange reports it differently from the last write, or the
journal no longer shows the status written (another writer changed it, or the write failed).
On the SQL journal behind a proxy the test cuts: a cycle that has nothing to write needs no
database at all (its pending orders are cached), so while the database is away it passes.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.agent.execution import Executor
from app.agent.guardian import Guardian, GuardReport
from app.core.errors import DatabaseError
from app.core.types import AccountId, TradingMode
from app.db.session import session_scope
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.exchange.types import OrderRequest, OrderType, Side
from app.records.sql_journal import SqlJournal
from app.trading.models import Order
from app.trading.repository import sync_accounts
from tests.agent.factory import START
from tests.db import Database, proxied
from tests.fakes.clock import ManualClock
from tests.fakes.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres
ACCOUNT = "paper"
BTC = "BTCUSDT"
# A resting order: a limit buy under the price.
RESTING = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "g-1", Decimal("0.01"), Decimal(90000))


@dataclass
class Rig:
    """A guardian on a paper exchange and the SQL journal, the database behind ``proxy``."""

    pg: Database
    proxy: TcpProxy
    clock: ManualClock
    exchange: PaperExchange
    journal: SqlJournal
    guardian: Guardian

    async def reconcile(self) -> None:
        """One cycle's reconciliation, an hour after the last."""
        self.clock.advance(timedelta(hours=1))
        report = GuardReport()
        open_orders = await self.exchange.open_orders()
        await self.guardian.reconcile_orders(self.clock.now(), report, open_orders)

    async def row(self) -> Order:
        """The order as the database holds it (read directly, not through the proxy)."""
        async with session_scope(self.pg.sessions) as session:
            row = await session.scalar(select(Order).where(Order.client_order_id == "g-1"))
        assert row is not None
        return row


@asynccontextmanager
async def rig(pg: Database) -> AsyncIterator[Rig]:
    async with proxied(pg) as (proxy, sessions):
        async with session_scope(sessions) as session:
            await sync_accounts(session, [(AccountId(ACCOUNT), TradingMode.PAPER)])
        clock = ManualClock(START)
        exchange = PaperExchange(
            clock=clock, filters={BTC: OFFLINE_FILTERS[BTC]}, balance=Decimal(10000)
        )
        exchange.set_price(BTC, Decimal(95000))
        journal = SqlJournal(sessions)
        executor = Executor(ACCOUNT, exchange, journal, clock=clock)
        guardian = Guardian(ACCOUNT, exchange, journal, executor, max_stop_distance=Decimal("0.1"))
        await journal.order_intent(ACCOUNT, None, RESTING, "entry", clock.now())
        await exchange.place_order(RESTING)
        yield Rig(pg, proxy, clock, exchange, journal, guardian)


async def test_an_unchanged_working_order_is_written_once(pg: Database) -> None:
    async with rig(pg) as r:
        await r.reconcile()
        assert (await r.row()).status == "NEW"

        await r.proxy.cut()  # no write is due: the next cycles need no database
        for _ in range(3):
            await r.reconcile()
        await r.proxy.restore()

        assert (await r.row()).status == "NEW"


async def test_a_changed_report_is_written(pg: Database) -> None:
    async with rig(pg) as r:
        await r.reconcile()
        [working] = await r.exchange.open_orders()
        moved = replace(working, executed_qty=Decimal("0.001"), update_time=r.clock.now())

        await r.guardian.reconcile_orders(r.clock.now(), GuardReport(), [moved])

        assert (await r.row()).filled_quantity == Decimal("0.001")


async def test_a_status_changed_by_another_writer_is_written_again(pg: Database) -> None:
    async with rig(pg) as r:
        await r.reconcile()
        await r.journal.order_update(None, "g-1", r.clock.now(), status="unknown")

        await r.reconcile()

        assert (await r.row()).status == "NEW"


async def test_a_write_the_journal_refused_is_tried_again(pg: Database) -> None:
    async with rig(pg) as r:
        await r.journal.pending_orders(ACCOUNT)  # read before, as by a running loop
        await r.proxy.cut()  # the write itself fails
        with pytest.raises(DatabaseError):
            await r.reconcile()
        await r.proxy.restore()

        await r.reconcile()

        assert (await r.row()).status == "NEW"
