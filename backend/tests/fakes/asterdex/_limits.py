"""Rate limits counted on the clock: request weight per IP and new orders per account."""

from collections import deque

from ._errors import ApiError

ORDERS_PER_MINUTE = 1200
ORDERS_PER_10S = 300


class WeightMeter:
    """Request weight used in the current clock minute (the ``X-MBX-USED-WEIGHT-1M`` value).

    Windows are whole minutes of server time, so a test on a manual clock sees a fresh window
    only when it moves time past a minute boundary.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = -1
        self.used = 0

    def add(self, weight: int, now_ms: int) -> int:
        """Count ``weight`` and return the total of the window."""
        window = now_ms // 60_000
        if window != self._window:
            self._window = window
            self.used = 0
        self.used += weight
        return self.used

    def current(self, now_ms: int) -> int:
        """The total of the window containing ``now_ms``."""
        return self.used if now_ms // 60_000 == self._window else 0

    @property
    def exceeded(self) -> bool:
        """Whether the window's total is over the limit."""
        return self.used > self.limit


class OrderMeter:
    """New orders per account in rolling 10 s and 1 min windows (-1015 beyond the limits)."""

    def __init__(self) -> None:
        self._times: dict[str, deque[int]] = {}

    def add(self, account_id: str, now_ms: int) -> None:
        """Count one new order, or raise -1015."""
        times = self._times.setdefault(account_id, deque())
        while times and times[0] <= now_ms - 60_000:
            times.popleft()
        in_10s = sum(1 for t in times if t > now_ms - 10_000)
        if in_10s >= ORDERS_PER_10S:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {ORDERS_PER_10S} orders per 10 SECOND.",
            )
        if len(times) >= ORDERS_PER_MINUTE:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {ORDERS_PER_MINUTE} orders per MINUTE.",
            )
        times.append(now_ms)

    def counts(self, account_id: str, now_ms: int) -> tuple[int, int]:
        """Orders in the last 10 s and the last minute (for ``X-MBX-ORDER-COUNT-*``)."""
        times = self._times.get(account_id, deque())
        return (
            sum(1 for t in times if t > now_ms - 10_000),
            sum(1 for t in times if t > now_ms - 60_000),
        )
