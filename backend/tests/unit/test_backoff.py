"""Backoff: doubling, capped, jittered within the upper half of the window."""

from hypothesis import given
from hypothesis import strategies as st

from app.core.backoff import jittered_backoff


@given(st.integers(min_value=1, max_value=60), st.floats(0.001, 5), st.floats(0.01, 60))
def test_waits_stay_in_the_upper_half_of_the_capped_window(
    attempt: int, base: float, cap: float
) -> None:
    ceiling = min(cap, base * 2 ** (attempt - 1))

    wait = jittered_backoff(attempt, base, cap)

    assert ceiling / 2 <= wait <= ceiling


def test_the_window_doubles_until_the_cap() -> None:
    assert [min(30.0, 1.0 * 2 ** (n - 1)) for n in (1, 2, 3, 6)] == [1.0, 2.0, 4.0, 30.0]
    assert all(0.5 <= jittered_backoff(1, 1.0, 30.0) <= 1.0 for _ in range(50))
    assert all(15.0 <= jittered_backoff(9, 1.0, 30.0) <= 30.0 for _ in range(50))
