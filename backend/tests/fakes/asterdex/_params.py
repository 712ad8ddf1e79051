"""Request parameters: parsing the wire string and typed access with the documented errors."""

import re
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qsl

from ._errors import DUPLICATE_PARAM, error, illegal_chars, invalid_param, mandatory
from ._numbers import parse_decimal

_LONG_RE = re.compile(r"^-?[0-9]{1,20}$")


def parse_pairs(raw: str) -> list[tuple[str, str]]:
    """Decode ``a=1&b=2`` (URL-encoded); a name given twice is -1101."""
    pairs = parse_qsl(raw, keep_blank_values=True)
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise error(DUPLICATE_PARAM)
    return pairs


def merge(query: list[tuple[str, str]], body: list[tuple[str, str]]) -> dict[str, str]:
    """Query and body parameters together; the query wins on a clash (spec §2.2)."""
    merged = dict(body)
    merged.update(query)
    return merged


class Params:
    """Typed access to one request's (or one batch item's) parameters.

    An empty value counts as not sent, as it does for the real validator's optional fields.
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = {name: value for name, value in values.items() if value != ""}

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def optional(self, name: str) -> str | None:
        """The raw value, or None."""
        return self._values.get(name)

    def require(self, name: str) -> str:
        """The raw value; -1102 when missing."""
        value = self._values.get(name)
        if value is None:
            raise mandatory(name)
        return value

    def optional_decimal(self, name: str) -> Decimal | None:
        """A DECIMAL parameter, or None."""
        value = self._values.get(name)
        return None if value is None else parse_decimal(name, value)

    def require_decimal(self, name: str) -> Decimal:
        """A mandatory DECIMAL parameter."""
        return parse_decimal(name, self.require(name))

    def optional_int(
        self, name: str, *, low: int | None = None, high: int | None = None
    ) -> int | None:
        """A LONG/INT parameter within ``[low, high]`` (-1130 outside), or None."""
        value = self._values.get(name)
        if value is None:
            return None
        if not _LONG_RE.match(value):
            raise illegal_chars(name, "^[0-9]{1,20}$")
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise invalid_param(name)
        return number

    def int_or(
        self, name: str, default: int, *, low: int | None = None, high: int | None = None
    ) -> int:
        """A LONG/INT parameter with a default."""
        number = self.optional_int(name, low=low, high=high)
        return default if number is None else number

    def require_int(self, name: str, *, low: int | None = None, high: int | None = None) -> int:
        """A mandatory LONG/INT parameter."""
        number = self.optional_int(name, low=low, high=high)
        if number is None:
            raise mandatory(name)
        return number

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """A ``"true"``/``"false"`` parameter (any letter case)."""
        value = self._values.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise invalid_param(name)
        return lowered == "true"
