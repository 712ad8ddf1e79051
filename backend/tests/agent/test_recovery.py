"""Crash recovery in live mode: a loop killed at any point of a cycle, then restarted, never
places an order twice and never loses a fill; positions it did not open are adopted or
flattened.

The journal and market view are in memory (a restarted loop shares the journal, as a restarted
process finds its database); the two kills mid-send also run on PostgreSQL, where the restart
recovers from the rows the killed cycle left.
"""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from app.db.session import SessionFactory
from app.exchange.http.auth import HmacSigner
from app.exchange.http.client import AsterdexClient
from app.exchange.types import OrderRequest, OrderType, Side
from tests.fakes.asterdex import Fault
from tests.waiting import until

from .live import API_KEY, API_SECRET, LiveRig, crash_candles, live_rig, records

NEW_ORDER = "POST /fapi/v1/order"


def order_posts(rig: LiveRig) -> int:
    return sum(1 for r in rig.exchange.requests if r.method == "POST" and r.path.endswith("/order"))


def entries(rig: LiveRig) -> list[str]:
    return [o.client_order_id for o in rig.account.orders if o.type == "MARKET"]


async def kill(task: "asyncio.Task[object]") -> None:
    """The process dies: the cycle stops wherever it is, nothing after it runs."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_killed_between_journal_and_exchange_the_order_is_never_sent_twice(
    store: SessionFactory | None,
) -> None:
    async with live_rig(store) as rig:
        loop, _ = await rig.loop()
        rig.open_long()
        # The entry never reaches the exchange (connection cut), and the process dies
        # while the client waits to be sure of it.
        rig.exchange.inject(Fault(NEW_ORDER, "disconnect"))
        cycle = asyncio.create_task(loop.tick())
        await until(lambda: order_posts(rig) == 1, "the entry to be sent")
        await until(
            lambda: any(
                r.method == "GET" and r.path.endswith("/order") for r in rig.exchange.requests
            ),
            "the client to ask for the order",
        )
        await kill(cycle)
        assert entries(rig) == []
        orders, _, _ = await records(rig)
        assert [(o.purpose, o.status) for o in orders] == [("entry", "intent")]

        rig.clock.advance(timedelta(seconds=30))
        restarted, _ = await rig.loop()
        rig.open_long()
        await restarted.tick()

        orders, fills, events = await records(rig)
        stale = orders[0]
        assert stale.status == "not_sent"
        assert stale.client_order_id not in entries(rig)  # resolved, never resent
        assert len(entries(rig)) == 1  # the new decision's entry only
        assert {o.purpose: o.status for o in orders[1:]} == {
            "entry": "FILLED",
            "stop_loss": "NEW",
            "take_profit": "NEW",
        }
        assert len(fills) == 1
        recovery = [e for e in events if e.kind == "recovery"]
        assert recovery
        assert recovery[0].payload["resolved"] == {stale.client_order_id: "not_sent"}


async def test_killed_during_the_send_the_fill_is_kept_and_protection_armed(
    store: SessionFactory | None,
) -> None:
    async with live_rig(store) as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long()
        # The exchange fills the entry, the answer never comes back before the process dies.
        rig.exchange.inject(Fault(NEW_ORDER, "timeout_after_accept", latency_s=3.0))
        cycle = asyncio.create_task(loop.tick())
        await until(lambda: len(entries(rig)) == 1, "the exchange to accept the entry")
        await kill(cycle)
        assert rig.account.positions["BTCUSDT"].amount > 0
        assert rig.account.open_orders("BTCUSDT") == []  # unprotected for now
        orders, fills, _ = await records(rig)
        assert [(o.purpose, o.status) for o in orders] == [("entry", "intent")]
        assert fills == []

        rig.clock.advance(timedelta(seconds=30))
        restarted, _ = await rig.loop()
        report = await restarted.recover()

        assert len(entries(rig)) == 1  # never placed twice
        orders, fills, _ = await records(rig)
        entry = orders[0]
        assert entry.status == "FILLED"
        assert report.resolved == {entry.client_order_id: "FILLED"}
        assert report.rearmed == ["BTCUSDT"]
        assert [f.order_client_id for f in fills] == [entry.client_order_id]
        assert fills[0].quantity == rig.account.positions["BTCUSDT"].amount
        working = rig.account.open_orders("BTCUSDT")
        assert [o.stop_price for o in working if o.type == "STOP_MARKET"] == [stop]
        assert len(working) == 2


async def test_killed_after_the_fill_before_protection_nothing_is_lost() -> None:
    async with live_rig() as rig:
        loop, _ = await rig.loop()
        stop = rig.open_long()
        rig.exchange.inject(Fault(NEW_ORDER, "disconnect", after=1))  # the stop is cut off
        # ...and the service dies while it asks the exchange about it.
        rig.exchange.inject(Fault("GET /fapi/v1/order", "latency", latency_s=2.0))
        cycle = asyncio.create_task(loop.tick())
        await until(lambda: order_posts(rig) == 2, "the stop to be sent")
        await until(
            lambda: sum(
                1 for r in rig.exchange.requests if r.method == "GET" and r.path.endswith("/order")
            )
            >= 1,
            "the client to ask for the stop",
        )
        await kill(cycle)
        orders, fills, _ = await records(rig)
        assert [(o.purpose, o.status) for o in orders] == [
            ("entry", "FILLED"),
            ("stop_loss", "intent"),
        ]
        assert fills == []  # killed before the fill was recorded

        rig.clock.advance(timedelta(seconds=30))
        restarted, _ = await rig.loop()
        await restarted.recover()
        await restarted.recover()  # idempotent: a second pass changes nothing

        assert len(entries(rig)) == 1
        orders, fills, events = await records(rig)
        assert orders[1].status == "not_sent"
        assert [f.order_client_id for f in fills] == [orders[0].client_order_id]
        working = rig.account.open_orders("BTCUSDT")
        assert sorted(o.type for o in working) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
        assert [o.stop_price for o in working if o.type == "STOP_MARKET"] == [stop]
        assert [e.kind for e in events].count("protection.armed") == 1


async def test_a_stop_that_fired_while_the_service_was_down_is_journaled() -> None:
    candles = crash_candles(300)  # the first bar after the start crashes
    async with live_rig(candles=candles) as rig:
        loop, _ = await rig.loop()
        rig.open_long()
        await loop.tick()
        # The service stops; while it is down the crash bar fires the stop.
        await rig.hour(2)
        assert rig.account.positions["BTCUSDT"].amount == 0

        restarted, _ = await rig.loop()
        await restarted.recover()

        orders, fills, _ = await records(rig)
        by_purpose = {o.purpose: o for o in orders}
        assert by_purpose["stop_loss"].status == "FILLED"
        assert by_purpose["take_profit"].status in {"CANCELED", "EXPIRED", "NEW"}
        assert {f.order_client_id for f in fills} == {
            by_purpose["entry"].client_order_id,
            by_purpose["stop_loss"].client_order_id,
        }
        assert not rig.account.open_orders("BTCUSDT")


async def outside_position(rig: LiveRig, quantity: str = "0.05") -> None:
    """Someone opens a BTC long by hand (not through the service)."""
    async with AsterdexClient(
        base_url=rig.exchange.base_url,
        signer=HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET)),
        clock=rig.clock,
    ) as client:
        await client.place_order(
            OrderRequest(
                "BTCUSDT", Side.BUY, OrderType.MARKET, "by-hand-1", quantity=Decimal(quantity)
            )
        )


async def test_a_position_opened_outside_the_service_is_adopted_with_a_stop() -> None:
    async with live_rig() as rig:
        await outside_position(rig)
        loop, _ = await rig.loop()

        report = await loop.recover()

        assert report.adopted == ["BTCUSDT"]
        assert rig.account.positions["BTCUSDT"].amount == Decimal("0.05")
        (stop,) = rig.account.open_orders("BTCUSDT")
        assert stop.type == "STOP_MARKET"
        assert stop.close_position
        # The widest stop the risk limits allow (10 % from the mark).
        assert stop.stop_price == pytest.approx(rig.price() * Decimal("0.9"), rel=Decimal("0.001"))
        _, _, events = await records(rig)
        assert "position.adopted" in [e.kind for e in events]
        assert "BTCUSDT" in loop.theses()


async def test_a_position_opened_outside_the_service_is_flattened_when_told_so() -> None:
    async with live_rig() as rig:
        await outside_position(rig)
        loop, _ = await rig.loop(policy="flatten")

        report = await loop.recover()

        assert report.flattened == ["BTCUSDT"]
        assert rig.account.positions["BTCUSDT"].amount == 0
        orders, _, events = await records(rig)
        assert [(o.purpose, o.reduce_only, o.status) for o in orders] == [("close", True, "FILLED")]
        assert "position.flattened" in [e.kind for e in events]
