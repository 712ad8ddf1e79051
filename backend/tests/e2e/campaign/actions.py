"""What each kind of step does to the running service (the plan says which, and when).

Every step ends with :meth:`Campaign.settle` (run by :meth:`Campaign.run_step`). Timing
inside a step is anchored on events, not on sleeps: a kill or a database cut happens a
seeded delay after the fake model was asked (or once the fake holds a request), and every
wait polls with a deadline.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal

from tests.e2e.campaign.llm import Leg, leg, price_field
from tests.e2e.campaign.plan import Step
from tests.e2e.campaign.runner import ASSETS, Campaign, poll, symbol_of
from tests.fakes.asterdex import DEFAULT_SYMBOL_SPECS, Fault

STOP_DISTANCE = Decimal("0.03")
TARGET_DISTANCE = Decimal("0.06")
THROUGH_STOP = Decimal("0.005")  # how far past a stop a market move goes
WAIT_FOR_CYCLE_S = 15.0


def legs_for(c: Campaign, step: Step) -> list[Leg]:
    """The step's decision, resolved against the fake's positions now."""
    positions = c.positions()
    if step.action == "open":
        # Flat assets first; else add to a position (pyramiding is on), never flip it.
        flat = [a for a in ASSETS if symbol_of(a) not in positions]
        choices = flat or list(ASSETS)
        asset = choices[int(step.pick * len(choices))]
        symbol = symbol_of(asset)
        long = step.long if symbol not in positions else positions[symbol].amount > 0
        price = c.fake.price(symbol)
        sign = 1 if long else -1
        return [
            leg(
                asset,
                "open_long" if long else "open_short",
                size_usd=step.size_usd,
                leverage=3,
                stop_loss=price_field(price * (1 - sign * STOP_DISTANCE)),
                take_profit=price_field(price * (1 + sign * TARGET_DISTANCE)),
            )
        ]
    if step.action == "exit" and positions:
        symbol = sorted(positions)[int(step.pick * len(positions))]
        asset = symbol.removesuffix("USDT")
        if step.reduce:
            notional = abs(positions[symbol].amount) * c.fake.price(symbol) / 2
            return [leg(asset, "reduce", size_usd=float(notional.quantize(Decimal(1))))]
        return [leg(asset, "close")]
    return []


async def _cycle_until_asked(
    c: Campaign, step: Step, asked: Callable[[], bool]
) -> "asyncio.Task[int | None]":
    """Start a cycle deciding ``step``'s legs; return once ``asked()`` or the cycle ended."""
    c.desk.decide(legs_for(c, step), delay_s=step.llm_delay_s)
    task = asyncio.create_task(c.cycle())
    await poll(lambda: asked() or task.done(), WAIT_FOR_CYCLE_S)
    return task


async def _finish(task: "asyncio.Task[int | None]") -> None:
    """Let a cycle request end (a killed service ends it with no answer)."""
    await asyncio.wait_for(task, timeout=60)


def inject(c: Campaign, step: Step) -> None:
    """Arm the step's fault on the fake."""
    plan = step.fault
    assert plan is not None
    c.fake.inject(
        Fault(
            plan.endpoint,
            plan.kind,
            times=plan.times,
            latency_s=plan.latency_s,
            retry_after_s=plan.retry_after_s,
            after=plan.after,
        )
    )
    c.faults_injected += 1
    c.faults_armed = True


async def trade(c: Campaign, step: Step) -> None:
    """A plain cycle with the step's decision."""
    if step.action == "exit":
        await _ensure_position(c, step)
    c.desk.decide(legs_for(c, step), delay_s=step.llm_delay_s)
    await c.cycle()


async def fault(c: Campaign, step: Step) -> None:
    """A cycle with the step's decision while the fake misbehaves as planned."""
    if step.action == "exit":
        await _ensure_position(c, step)
    inject(c, step)
    await trade(c, step)


async def kill(c: Campaign, step: Step) -> None:
    """SIGKILL during a cycle (after a delay, or while the fake holds an order), restart."""
    if step.action == "exit":
        await _ensure_position(c, step)
    if step.fault is not None:
        inject(c, step)
        hits = len(c.fake.fault_hits)
        held = c.fake.fault_hits

        def asked() -> bool:
            return any(hit.kind == "timeout_after_accept" for hit in held[hits:])

        task = await _cycle_until_asked(c, step, asked)
    else:
        served = len(c.desk.served)
        task = await _cycle_until_asked(c, step, lambda: len(c.desk.served) > served)
        assert step.kill_after_s is not None
        await asyncio.sleep(step.kill_after_s)  # the seeded point in the cycle
    await c.kill()
    await _finish(task)
    if step.move_while_down:
        await move_through_stop(c, step)
    await c.restart()


async def db_cycle(c: Campaign, step: Step) -> None:
    """The database goes away during a cycle (seeded delay after the model was asked)."""
    served = len(c.desk.served)
    task = await _cycle_until_asked(c, step, lambda: len(c.desk.served) > served)
    await asyncio.sleep(step.cut_after_s)  # the seeded point in the cycle
    await c.db_outage(step.outage_s)
    await _finish(task)


async def db_startup(c: Campaign, step: Step) -> None:
    """The database goes away during the service's own first cycle after a restart.

    Only the service's own schedule runs its loop's failure handling (retries, the account
    lock check); the cycles the campaign asks for over the API do not.
    """
    if step.action == "exit":
        await _ensure_position(c, step)
    await c.kill()
    c.desk.decide(legs_for(c, step), delay_s=step.llm_delay_s)
    served = len(c.desk.served)
    await c.restart()
    await poll(lambda: len(c.desk.served) > served, WAIT_FOR_CYCLE_S)
    await asyncio.sleep(step.cut_after_s)  # the seeded point in the cycle
    await c.db_outage(step.outage_s)


async def db_idle(c: Campaign, step: Step) -> None:
    """The database goes away between cycles."""
    await c.db_outage(step.outage_s)


async def manual(c: Campaign, step: Step) -> None:
    """A trade by hand on the account while the service's user-data stream is down.

    The stream stays refused through the step's settle cycle (``run_step`` lets it back),
    so the service must find the fill without it.
    """
    await _ensure_position(c, step)
    positions = c.positions()
    if not positions:
        c.findings.notes.append(f"{c.step}: no position to trade by hand")
        return
    c.fake.refuse_user_streams(True)
    await c.fake.drop_websockets()
    c.stream_outages += 1
    symbol = sorted(positions)[int(step.pick * len(positions))]
    amount = positions[symbol].amount
    step_size = DEFAULT_SYMBOL_SPECS[symbol].step_size
    quantity = max(step_size, (abs(amount) / 2).quantize(step_size, rounding=ROUND_DOWN))
    same, opposite = ("BUY", "SELL") if amount > 0 else ("SELL", "BUY")
    side = same if step.manual_add else opposite
    await c.trader.market(symbol, side, quantity, reduce_only=not step.manual_add)


async def move(c: Campaign, step: Step) -> None:
    """The market moves through a position's stop (it must fire, and be journaled)."""
    await _ensure_position(c, step)
    await move_through_stop(c, step)


async def _ensure_position(c: Campaign, step: Step) -> None:
    """Open a position first when the account is flat (a step needs one to act on)."""
    if c.positions():
        return
    opening = Step(step.index, "trade", "open", step.pick, step.long, step.size_usd)
    c.desk.decide(legs_for(c, opening))
    await c.cycle()
    await poll(lambda: not c.monitor.sample(), 5.0)


async def move_through_stop(c: Campaign, step: Step) -> None:
    """Move one position's market just past its stop (4 % against it when it has none)."""
    positions = c.positions()
    if not positions:
        return
    stops = {
        o.symbol: o.stop_price
        for o in c.account.open_orders()
        if o.type == "STOP_MARKET" and o.symbol in positions
    }
    choices = sorted(stops) or sorted(positions)
    symbol = choices[int(step.pick * len(choices))]
    long = positions[symbol].amount > 0
    price = c.fake.price(symbol)
    stop = stops.get(symbol, price * (Decimal("0.96") if long else Decimal("1.04")))
    target = stop * (1 - THROUGH_STOP) if long else stop * (1 + THROUGH_STOP)
    tick = DEFAULT_SYMBOL_SPECS[symbol].tick_size
    c.fake.set_price(symbol, target.quantize(tick))
    started = time.monotonic()
    if symbol in stops and not await poll(lambda: symbol not in c.positions(), 5.0):
        c.findings.notes.append(
            f"{c.step}: {symbol} stop at {stop} did not fire within "
            f"{time.monotonic() - started:.1f}s of the market moving to {target}"
        )


STEP_ACTIONS: dict[str, Callable[[Campaign, Step], Awaitable[None]]] = {
    "trade": trade,
    "fault": fault,
    "kill": kill,
    "db_cycle": db_cycle,
    "db_startup": db_startup,
    "db_idle": db_idle,
    "manual": manual,
    "move": move,
}
