"""Decimal parsing and formatting as the exchange does it: numbers travel as strings."""

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from ._errors import illegal_chars

_DECIMAL_RE = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$")
_DECIMAL_LEGAL = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
EIGHT_PLACES = Decimal("0.00000001")
ZERO = Decimal(0)


def parse_decimal(name: str, raw: str) -> Decimal:
    """Parse a DECIMAL parameter (plain notation only, like the real validator)."""
    if not _DECIMAL_RE.match(raw):
        raise illegal_chars(name, _DECIMAL_LEGAL)
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise illegal_chars(name, _DECIMAL_LEGAL) from exc


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of ``value`` (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def is_multiple(value: Decimal, base: Decimal, step: Decimal) -> bool:
    """Whether ``value - base`` is a whole number of ``step`` (a zero step disables it)."""
    if step == 0:
        return True
    return (value - base) % step == 0


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Round up to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def fixed(value: Decimal, places: int) -> str:
    """``value`` with exactly ``places`` decimals, never in exponent notation."""
    quantum = Decimal(1).scaleb(-places)
    return format(value.quantize(quantum, rounding=ROUND_HALF_UP), "f")


def plain(value: Decimal) -> str:
    """A computed amount rounded to 8 decimals without trailing zeros ("0", "1.5", ...)."""
    rounded = value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
    if rounded == 0:
        return "0"
    return format(rounded.normalize(), "f")


def round8(value: Decimal) -> Decimal:
    """Round a money amount to 8 decimals, as balances and fees are booked."""
    return value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)


def sign(value: Decimal) -> int:
    """-1, 0 or 1."""
    return (value > 0) - (value < 0)
