"""Exponential backoff with jitter, shared by every retry and reconnect loop."""

import random


def jittered_backoff(attempt: int, base_s: float, cap_s: float) -> float:
    """Wait before retry ``attempt`` (1-based): ``base * 2^(attempt-1)`` capped, with jitter.

    The wait is drawn from the upper half of the window, so retries spread out (many
    clients do not retry in lockstep) but never come back sooner than half the backoff.
    """
    ceiling = min(cap_s, base_s * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
