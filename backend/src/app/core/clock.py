"""Time as a port: everything that asks "what time is it" or waits goes through a Clock.

Live and paper mode use :class:`SystemClock`; backtests and tests substitute their own, so no
domain or agent code calls ``datetime.now()`` or ``asyncio.sleep()`` directly.
"""

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current time and of waiting."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``when`` (timezone-aware) has been reached; at once if it has passed."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the current wall-clock time in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep on the event loop until ``when``."""
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
