"""Live mode end to end: the loop trades the fake AsterDEX on an LLM's decision from the fake
OpenRouter, and every step lands in the journal.

The journal and market view are in memory; the first test also runs on PostgreSQL, where its
orders, fills, decision, legs and LLM call land as linked rows."""

import asyncio
from datetime import timedelta
from decimal import Decimal

from app.agent.supervisor import AgentState, AgentSupervisor, ManagedAgent
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory
from app.exchange.types import OrderType
from tests.fakes.openrouter import Reply
from tests.waiting import until

from .live import ACCOUNT, crash_candles, decision_records, leg, live_rig, records


async def test_a_live_cycle_places_the_entry_and_its_protection_and_journals_all(
    store: SessionFactory | None,
) -> None:
    async with live_rig(store) as rig:
        loop, live = await rig.loop(stream=True)
        stop = rig.open_long()

        outcome = await loop.tick()

        assert outcome.skipped is None
        assert outcome.orders_sent == 3
        position = rig.account.positions["BTCUSDT"]
        assert position.amount > 0
        assert position.amount * position.entry_price <= Decimal(3000) * Decimal("1.01")
        assert rig.account.leverage["BTCUSDT"] == 2
        working = rig.account.open_orders("BTCUSDT")
        assert sorted(o.type for o in working) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
        assert all(o.close_position and o.working_type == "MARK_PRICE" for o in working)
        assert all(o.side == "SELL" for o in working)
        assert [o.stop_price for o in working if o.type == "STOP_MARKET"] == [stop]

        assert live.streaming  # fills come from the user-data stream, REST as fallback
        orders, fills, _ = await records(rig)
        entry = next(o for o in orders if o.purpose == "entry")
        assert entry.status == "FILLED"
        assert entry.exchange_order_id is not None
        assert [f.order_client_id for f in fills] == [entry.client_order_id]
        assert fills[0].quantity == position.amount
        assert {o.purpose: o.status for o in orders} == {
            "entry": "FILLED",
            "stop_loss": "NEW",
            "take_profit": "NEW",
        }
        (decision,) = await decision_records(rig)
        assert decision.reply is not None  # the deciding LLM call, kept whole
        assert "open_long" in decision.reply
        assert decision.model == "x-ai/grok-4"
        assert entry.leg_id in decision.leg_ids


async def test_a_reduction_keeps_protection_matching_and_the_stop_closes_the_rest() -> None:
    candles = crash_candles(302)  # the third bar after the start crashes: a stop-out
    async with live_rig(candles=candles) as rig:
        loop, _ = await rig.loop()
        rig.open_long(size=3000)
        await loop.tick()
        full = rig.account.positions["BTCUSDT"].amount
        protection_before = {o.client_order_id for o in rig.account.open_orders("BTCUSDT")}

        await rig.hour()
        rig.say(leg("BTC", "reduce", size_usd=1500))
        await loop.tick()

        reduced = rig.account.positions["BTCUSDT"].amount
        assert Decimal(0) < reduced < full
        working = rig.account.open_orders("BTCUSDT")
        # Close-position stop and target: they close whatever the position is, so they
        # already match the new size; the guardian had nothing to re-arm.
        assert {o.client_order_id for o in working} == protection_before
        assert all(o.close_position for o in working)

        await rig.hour(2)  # the crash bar closes: the stop fires on the reduced position
        await loop.tick()
        assert rig.account.positions["BTCUSDT"].amount == 0  # closed exactly, not reversed
        orders, fills, _ = await records(rig)
        stop_order = next(o for o in orders if o.purpose == "stop_loss")
        assert stop_order.status == "FILLED"
        stop_fills = [f for f in fills if f.order_client_id == stop_order.client_order_id]
        assert sum(f.quantity for f in stop_fills) == reduced
        assert not rig.account.open_orders("BTCUSDT")  # the orphaned target was cancelled


async def test_a_missing_stop_is_re_armed_at_the_next_cycle() -> None:
    async with live_rig() as rig:
        loop, live = await rig.loop()
        stop = rig.open_long()
        await loop.tick()
        sl = next(o for o in rig.account.open_orders("BTCUSDT") if o.type == "STOP_MARKET")
        await live.cancel_order("BTCUSDT", sl.client_order_id)  # someone cancels it by hand

        await rig.hour()
        await loop.tick()

        working = rig.account.open_orders("BTCUSDT")
        assert sorted(o.type for o in working) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
        assert [o.stop_price for o in working if o.type == "STOP_MARKET"] == [stop]
        _, _, events = await records(rig)
        assert [e.kind for e in events if e.kind == "protection.armed"] == ["protection.armed"]


async def test_an_invalidation_closes_the_live_position() -> None:
    async with live_rig() as rig:
        loop, _ = await rig.loop()
        rig.open_long(invalidation="close_1h < 1000000")  # holds at the next closed candle
        await loop.tick()
        assert rig.account.positions["BTCUSDT"].amount > 0

        await rig.hour()
        outcome = await loop.tick()

        assert outcome.closed_by_invalidation == ["BTCUSDT"]
        assert rig.account.positions["BTCUSDT"].amount == 0
        assert not rig.account.open_orders("BTCUSDT")
        orders, _, events = await records(rig)
        close = next(o for o in orders if o.purpose == "close")
        assert close.reduce_only
        assert close.status == "FILLED"
        assert "position.invalidated" in [e.kind for e in events]


async def test_limit_entries_are_protected_once_filled() -> None:
    async with live_rig() as rig:
        loop, _ = await rig.loop(entry_type=OrderType.LIMIT)
        rig.open_long()

        await loop.tick()

        orders, _, _ = await records(rig)
        entry = next(o for o in orders if o.purpose == "entry")
        assert entry.type == "LIMIT"
        assert entry.price is not None
        if entry.status == "FILLED":
            assert rig.account.positions["BTCUSDT"].amount > 0
            kinds = sorted(o.type for o in rig.account.open_orders("BTCUSDT"))
            assert kinds == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
        else:  # not filled within the timeout: cancelled, nothing left working
            assert entry.status == "CANCELED"
            assert rig.account.positions["BTCUSDT"].amount == 0
            assert not rig.account.open_orders("BTCUSDT")


async def test_a_stop_fill_between_cycles_arrives_on_the_user_data_stream() -> None:
    async with live_rig(candles=crash_candles(301)) as rig:
        loop, live = await rig.loop(stream=True)
        rig.open_long()
        await loop.tick()  # the first look after a start polls userTrades once

        def trade_polls() -> int:
            return sum(1 for r in rig.exchange.requests if r.path.endswith("/userTrades"))

        polls = trade_polls()
        # Two hours pass while the agent sleeps (the stream keeps its listen key alive every
        # 30 minutes); the crash bar closes and the stop fires.
        for _ in range(6):
            rig.clock.advance(timedelta(minutes=20))
            await rig.exchange.process()
            await asyncio.sleep(0.05)
        await until(lambda: live.buffered_fills > 0, "the stop's fill to be pushed", within=3)
        assert live.buffered_fills == 1  # pushed by the exchange, not polled

        await loop.tick()

        assert trade_polls() == polls  # no REST poll was needed
        orders, fills, _ = await records(rig)
        stop = next(o for o in orders if o.purpose == "stop_loss")
        assert stop.status == "FILLED"
        assert [f.order_client_id for f in fills if f.order_client_id == stop.client_order_id] == [
            stop.client_order_id
        ]
        assert "BTCUSDT" not in loop.theses()


async def test_pausing_lets_the_running_cycle_finish() -> None:
    async with live_rig() as rig:
        loop, _ = await rig.loop()
        price = rig.price()
        stop, target = price * Decimal("0.97"), price * Decimal("1.06")
        entry = leg(
            "BTC",
            "open_long",
            size_usd=3000,
            leverage=2,
            stop_loss=float(stop.quantize(Decimal(1))),
            take_profit=float(target.quantize(Decimal(1))),
        )
        rest = [leg(asset) for asset in ("ETH", "SOL")]
        # The model takes a while: the pause arrives in the middle of the cycle.
        rig.router.script(
            Reply.delay(0.5, Reply.json({"decisions": [entry, *rest], "summary": "slow"}))
        )
        supervisor = AgentSupervisor({AccountId(ACCOUNT): ManagedAgent(TradingMode.LIVE, loop, "")})
        await supervisor.start()
        await until(lambda: bool(rig.router.requests), "the cycle to ask the model", within=5)

        status = await supervisor.hold(AccountId(ACCOUNT), AgentState.PAUSED, "test")

        assert status.state is AgentState.PAUSED
        # The cycle was not cut: the entry and both protection orders are in place.
        assert rig.account.positions["BTCUSDT"].amount > 0
        assert len(rig.account.open_orders("BTCUSDT")) == 2
        orders, _, _ = await records(rig)
        assert sorted(o.status for o in orders) == ["FILLED", "NEW", "NEW"]
        await supervisor.aclose()


async def test_live_funding_is_read_from_the_exchange_and_journaled() -> None:
    async with live_rig() as rig:
        loop, _ = await rig.loop()
        rig.open_long()
        await loop.tick()
        assert rig.account.positions["BTCUSDT"].amount > 0

        for _ in range(10):  # past at least one 8-hourly funding time; the model holds
            await rig.hour()
            await loop.tick()

        charged = [i for i in rig.account.income if i.income_type == "FUNDING_FEE"]
        assert charged, "no funding time passed in ten hours"
        _, _, events = await records(rig)
        funding = [e for e in events if e.kind == "funding"]
        assert funding
        assert sum(Decimal(e.payload["amount"]) for e in funding) == sum(i.income for i in charged)
