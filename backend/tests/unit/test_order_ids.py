"""Every client order id the service sends is valid on AsterDEX and reads back as what it is."""

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from app.agent import order_ids

VALID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # AsterDEX's newClientOrderId rule
SYMBOLS = st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT", "VERYLONGNAMEUSDT"])
# hypothesis takes naive bounds and attaches the zone itself
TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(st.uuids(), st.integers(0, 9), st.integers(0, 9))
def test_leg_orders_and_their_protection_are_valid_and_deterministic(
    decision: UUID, leg: int, number: int
) -> None:
    prefix = order_ids.leg_prefix(decision, leg)
    ids = [
        order_ids.leg_order(prefix, number),
        order_ids.protection(prefix, order_ids.STOP_LOSS),
        order_ids.protection(prefix, order_ids.TAKE_PROFIT),
    ]

    assert all(VALID.match(i) for i in ids), ids
    assert order_ids.leg_prefix(decision, leg) == prefix  # a retry finds the same order
    assert [order_ids.is_stop_loss(i) for i in ids] == [False, True, False]
    assert not any(order_ids.is_forced_close(i) for i in ids)


@given(TIMES, st.integers(1, 10_000), SYMBOLS)
def test_guardian_and_close_ids_are_valid_and_each_arming_is_new(
    now: datetime, sequence: int, symbol: str
) -> None:
    first = order_ids.guard_prefix(now, sequence, symbol)
    ids = [
        order_ids.protection(first, order_ids.STOP_LOSS),
        order_ids.protection(first, order_ids.TAKE_PROFIT),
        order_ids.position_close("kill", symbol, now),
        order_ids.position_close("flat", symbol, now),
    ]

    assert all(VALID.match(i) for i in ids), ids
    assert order_ids.guard_prefix(now, sequence + 1, symbol) != first
    later = now + timedelta(milliseconds=1)
    assert order_ids.guard_prefix(later, sequence, symbol) != first


def test_forced_closes_are_told_apart() -> None:
    assert order_ids.is_forced_close("autoclose-1712345")
    assert order_ids.is_forced_close("adl_autoclose")
    assert order_ids.is_forced_close("liquidation-3")
    assert not order_ids.is_forced_close("ta-kill-btcusdt-1712345")
