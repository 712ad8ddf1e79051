"""What every part of the invalidation package shares: the public limits and the error."""

from typing import Final

# Mirrors app.core.types.KLINE_INTERVALS_MS (a test keeps them equal); this package is stdlib-only.
ASTERDEX_INTERVALS: Final = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)  # fmt: skip
MAX_LENGTH: Final = 200
MAX_COMPARISONS: Final = 8
MAX_DEPTH: Final = 10
WHITESPACE: Final = " \t\r\n"


class InvalidationError(ValueError):
    """A condition the parser refuses; the message says what is wrong and where.

    Attributes:
        expression: The text that was parsed.
        position: Character offset of the problem in ``expression``.
    """

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        super().__init__(message)
        self.expression = expression
        self.position = position
