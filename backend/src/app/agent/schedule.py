"""When the loop wakes: at each candle close plus grace, or within seconds after a failure."""

import asyncio
from datetime import datetime, timedelta

from app.core.backoff import jittered_backoff
from app.core.clock import Clock
from app.core.types import interval_delta, last_closed_open
from app.exchange.errors import RateLimited

RETRY_CAP_S = 3.0  # the longest wait between guard passes while something is failing


def next_close(now: datetime, interval: str, grace: timedelta) -> datetime:
    """The next candle close after ``now``, plus ``grace``."""
    return last_closed_open(now, interval) + 2 * interval_delta(interval) + grace


def retry_at(now: datetime, exc: Exception, failures: int) -> datetime:
    """When to try again after the ``failures``-th failure in a row (``exc`` the last).

    A short jittered backoff (0.5 s doubling, at most :data:`RETRY_CAP_S`), and never before
    a rate limit's own end: a request sent earlier would be refused locally anyway.
    """
    wake = now + timedelta(seconds=jittered_backoff(failures, 0.5, RETRY_CAP_S))
    if isinstance(exc, RateLimited):
        wake = max(wake, exc.retry_at)
    return wake


async def sleep_until(clock: Clock, when: datetime, stop: asyncio.Event) -> None:
    """Sleep until ``when`` or until ``stop`` is set, whichever comes first."""
    if clock.instant:  # a backtest: the sleep is over at once, nothing to race
        if not stop.is_set():
            await clock.sleep_until(when)
        await asyncio.sleep(0)  # still a turn for everything else on the event loop
        return
    sleeper = asyncio.ensure_future(clock.sleep_until(when))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (sleeper, stopper):
            waiter.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
