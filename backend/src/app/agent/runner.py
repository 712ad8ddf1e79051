"""When a loop ticks: at every candle close, with protection first after a failure.

:func:`run_cycles` drives any :class:`Cycles` (the :class:`~app.agent.loop.AgentLoop`) on its
clock: a decision per closed candle, a short backoff and a guard pass after a failure that
retrying can fix (:mod:`app.agent.failures`), and nothing else in between. On a simulated
clock the sleeps jump, so a backtest runs the same schedule as live trading.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from app.agent.cycle import TickOutcome
from app.agent.failures import is_transient
from app.agent.schedule import sleep_until
from app.core.clock import Clock

logger = logging.getLogger(__name__)

type TickHook = Callable[[TickOutcome], Awaitable[None]]
"""Told every completed cycle's outcome (progress bars, metrics)."""


class Cycles(Protocol):
    """What :func:`run_cycles` needs of a loop."""

    @property
    def clock(self) -> Clock:
        """The loop's clock."""
        ...

    @property
    def account_id(self) -> str:
        """Whose loop it is (for the logs)."""
        ...

    def decision_due(self) -> bool:
        """Whether the last closed candle still waits for its decision."""
        ...

    async def tick(self) -> TickOutcome:
        """One full cycle."""
        ...

    async def guard_pass(self) -> Any:
        """Fills, orders and protection, without a decision."""
        ...

    async def after_failure(self, exc: Exception, failures: int) -> datetime:
        """Record a failed pass; when to try again."""
        ...

    def next_close(self) -> datetime:
        """When the next cycle is due."""
        ...


async def run_cycles(
    cycles: Cycles,
    stop: asyncio.Event,
    *,
    after_tick: Callable[[], Awaitable[None]] | None = None,
    on_tick: TickHook | None = None,
    until: datetime | None = None,
) -> None:
    """Tick at every candle close (plus grace) until ``stop`` is set or ``until`` passes.

    A cycle that fails on something retrying can fix (the exchange, the database) is
    recorded and followed within seconds by a guard pass (fills, orders, protection),
    repeated with a short backoff until it succeeds; the candle's decision is retried too
    while none was recorded for it. Anything else propagates: it stops this account only
    (the supervisor records it).

    Args:
        cycles: The loop.
        stop: Set to stop between cycles.
        after_tick: Called after every pass, failed or not (e.g. the paper state's
            checkpoint).
        on_tick: Told every completed cycle's outcome.
        until: Stop once the clock passes it (the end of a replay's data).
    """
    clock = cycles.clock
    failures = 0
    while not stop.is_set():
        if until is not None and clock.now() > until:
            logger.info("%s: reached the end of the data (%s)", cycles.account_id, until)
            return
        try:
            if failures:  # protection first, then the decision if it is still due
                await cycles.guard_pass()
            if cycles.decision_due():
                outcome = await cycles.tick()
                if on_tick is not None:
                    await on_tick(outcome)
            if after_tick is not None:  # e.g. the paper state's checkpoint: a write
                await after_tick()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            wake = await cycles.after_failure(exc, failures)
        else:
            failures = 0
            wake = cycles.next_close()
        await sleep_until(clock, wake, stop)
