"""A clock tests move by hand; shared by the agent under test and the fake servers."""

import asyncio
from datetime import UTC, datetime, timedelta


class ManualClock:
    """Implements :class:`app.core.clock.Clock`; time moves only when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._changed = asyncio.Event()
        self.instant = False  # a sleep waits for the test to move time

    def now(self) -> datetime:
        """The current (manual) time."""
        return self._now

    def now_ms(self) -> int:
        """The current time in epoch milliseconds."""
        return int(self._now.timestamp() * 1000)

    def advance(self, delta: timedelta) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta
        self._changed.set()
        self._changed = asyncio.Event()

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (not earlier than now)."""
        self.advance(when - self._now)

    async def sleep_until(self, when: datetime) -> None:
        """Return once the clock reaches ``when``."""
        while self._now < when:
            await self._changed.wait()
