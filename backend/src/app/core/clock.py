"""Time as a port: everything that asks "what time is it" or waits goes through a Clock.

Live and paper mode use :class:`SystemClock`; backtests and tests substitute their own, so no
domain or agent code calls ``datetime.now()`` or ``asyncio.sleep()`` directly.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time and of waiting.

    Attributes:
        instant: A sleep returns at once, having moved time itself (a backtest's clock):
            nothing can happen while it "waits", so a caller need not race it against
            anything.
    """

    instant: bool

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``when`` (timezone-aware) has been reached; at once if it has passed."""
        ...


class SystemClock:
    """The wall clock."""

    instant = False

    def now(self) -> datetime:
        """Return the current wall-clock time in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep on the event loop until ``when``; never returns before it.

        The event loop's timer may fire a hair early (its clock is monotonic, ours is the
        wall clock, and it rounds to its resolution); a caller that waits out a rate-limit
        ban and then sends would be refused again, so the wait is repeated until it is over.
        """
        while True:
            delay = (when - self.now()).total_seconds()
            if delay <= 0:
                return
            await asyncio.sleep(max(delay, 0.001))


class ReplayClock:
    """Replay time: stands still during a cycle and jumps to each wake-up time.

    ``--replay`` uses it so the agent works through recorded candles quickly on the same code
    path: a sleep until ``when`` takes ``(when - now) / speed`` of wall-clock time, then time
    *is* ``when``. Frozen time keeps a cycle consistent however long it runs.
    """

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("ReplayClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._now = start
        self._speed = speed
        self.instant = False

    def now(self) -> datetime:
        """Replay time now."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait the wall-clock share of the gap, then move replay time to ``when``."""
        delay = (when - self._now).total_seconds() / self._speed
        if delay > 0:
            await asyncio.sleep(delay)
        self._now = max(self._now, when)


class SimulatedClock:
    """Backtest time: moves only when told, and a sleep jumps straight to its end.

    A loop on this clock runs as fast as its work allows: nothing ever waits for the wall
    clock. Tests and benchmarks move it with :meth:`advance` or :meth:`set`.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start
        self.instant = True

    def now(self) -> datetime:
        """Simulated time now."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``.

        Raises:
            ValueError: ``delta`` is negative (time does not go backwards).
        """
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        self.advance(when - self._now)

    async def sleep_until(self, when: datetime) -> None:
        """Move time to ``when`` at once (it never goes backwards)."""
        self._now = max(self._now, when)
