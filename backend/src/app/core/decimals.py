"""One text form for every decimal that leaves the service (REST answers, stream messages).

``str(Decimal)`` depends on how the value was made: ``Decimal(10000).quantize(...).normalize()``
prints ``1E+4`` and a PostgreSQL ``NUMERIC`` with a scale prints ``67190.300000000000000000``,
while SQLite hands back the text it stored. Clients compare, chart and parse these strings, so
the same amount must read the same wherever it came from: plain notation, no exponent, no
padding zeros (``10000``, ``67190.3``, ``0.00001``).
"""

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer


class NonFiniteDecimal(ValueError):
    """NaN and infinities have no plain decimal form (and no JSON number either)."""


def plain_decimal(value: Decimal) -> str:
    """The canonical text of ``value``: positional notation, no trailing zeros after the point.

    ``Decimal(text)`` of the result equals ``value``; zero is ``"0"`` whatever its sign or
    exponent.

    Raises:
        NonFiniteDecimal: ``value`` is NaN or infinite.
    """
    if not value.is_finite():
        raise NonFiniteDecimal(f"{value} has no plain decimal form")
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


PlainDecimal = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
"""A :class:`~decimal.Decimal` field that serializes to JSON as :func:`plain_decimal` text."""
