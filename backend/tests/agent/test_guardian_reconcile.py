"""Reconciliation writes an order's status only when the exchange or the journal moved.

The guardian asks about every pending order at every cycle; an order still working is
written again only when the exchange reports it differently from the last write, or the
journal no longer shows the status written (another writer changed it, or the write failed).
"""

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from app.agent.execution import Executor
from app.agent.guardian import Guardian, GuardReport
from app.core.errors import DatabaseUnavailable
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.paper import PaperExchange
from app.exchange.types import ExchangeOrder, OrderRequest, OrderType, Side
from app.records.memory_journal import MemoryJournal
from tests.agent.factory import START
from tests.fakes.clock import ManualClock

BTC = "BTCUSDT"
# A resting order: a limit buy under the price.
RESTING = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, "g-1", Decimal("0.01"), Decimal(90000))


class CountingJournal(MemoryJournal):
    """A memory journal counting order updates, and refusing them while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.updates = 0
        self.down = False

    async def order_update(
        self,
        order: ExchangeOrder | None,
        client_order_id: str,
        at: datetime,
        *,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        if self.down:
            raise DatabaseUnavailable("the database is away")
        self.updates += 1
        await super().order_update(order, client_order_id, at, status=status, error=error)


async def _setup() -> tuple[ManualClock, PaperExchange, CountingJournal, Guardian]:
    clock = ManualClock(START)
    exchange = PaperExchange(
        clock=clock, filters={BTC: OFFLINE_FILTERS[BTC]}, balance=Decimal(10000)
    )
    exchange.set_price(BTC, Decimal(95000))
    journal = CountingJournal()
    executor = Executor("paper", exchange, journal, clock=clock)
    guardian = Guardian("paper", exchange, journal, executor, max_stop_distance=Decimal("0.1"))
    await journal.order_intent("paper", None, RESTING, "entry", clock.now())
    await exchange.place_order(RESTING)
    return clock, exchange, journal, guardian


async def _reconcile(clock: ManualClock, exchange: PaperExchange, guardian: Guardian) -> None:
    clock.advance(timedelta(hours=1))
    await guardian.reconcile_orders(clock.now(), GuardReport(), await exchange.open_orders())


async def test_an_unchanged_working_order_is_written_once() -> None:
    clock, exchange, journal, guardian = await _setup()
    await _reconcile(clock, exchange, guardian)
    row = journal.order("g-1")
    assert row is not None
    assert (row.status, journal.updates) == ("NEW", 1)
    for _ in range(3):
        await _reconcile(clock, exchange, guardian)
    assert (journal.updates, journal.order("g-1")) == (1, row)


async def test_a_changed_report_is_written() -> None:
    clock, exchange, journal, guardian = await _setup()
    await _reconcile(clock, exchange, guardian)
    [working] = await exchange.open_orders()
    moved = replace(working, executed_qty=Decimal("0.001"), update_time=clock.now())
    await guardian.reconcile_orders(clock.now(), GuardReport(), [moved])
    row = journal.order("g-1")
    assert row is not None
    assert (row.filled_quantity, journal.updates) == (Decimal("0.001"), 2)


async def test_a_status_changed_by_another_writer_is_written_again() -> None:
    clock, exchange, journal, guardian = await _setup()
    await _reconcile(clock, exchange, guardian)
    await journal.order_update(None, "g-1", clock.now(), status="unknown")
    await _reconcile(clock, exchange, guardian)
    row = journal.order("g-1")
    assert row is not None
    assert (row.status, journal.updates) == ("NEW", 3)


async def test_a_write_the_journal_refused_is_tried_again() -> None:
    clock, exchange, journal, guardian = await _setup()
    journal.down = True
    with pytest.raises(DatabaseUnavailable):
        await _reconcile(clock, exchange, guardian)
    journal.down = False
    await _reconcile(clock, exchange, guardian)
    row = journal.order("g-1")
    assert row is not None
    assert (row.status, journal.updates) == ("NEW", 1)
