"""The theses of an account's open positions: why each is open, and what ends it.

One :class:`Theses` object per loop owns them. Its mutations are named for what happens to
the position (an entry may have filled, a position was adopted, closed, or is gone), so a
reader can find every place a thesis appears or disappears; everyone else reads it as a
mapping.
"""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.trading.invalidation import Condition


@dataclass(frozen=True, slots=True)
class Thesis:
    """Why a position is open, and what ends it."""

    condition: Condition | None
    text: str
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_at: datetime


class Theses(Mapping[str, Thesis]):
    """The thesis of each open position, by symbol (read as a mapping, changed by name)."""

    def __init__(self, theses: Mapping[str, Thesis] | None = None) -> None:
        self._by_symbol: dict[str, Thesis] = dict(theses or {})

    def __getitem__(self, symbol: str) -> Thesis:
        return self._by_symbol[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def hold(self, symbol: str, thesis: Thesis) -> None:
        """``symbol``'s position rests on ``thesis`` (an entry may have filled, or adopted)."""
        self._by_symbol[symbol] = thesis

    def drop(self, symbol: str) -> Thesis | None:
        """``symbol``'s position was closed (or flattened): its thesis goes with it."""
        return self._by_symbol.pop(symbol, None)

    def keep_only(self, open_symbols: Collection[str]) -> list[str]:
        """Drop the theses of positions that are gone; returns their symbols."""
        gone = [s for s in self._by_symbol if s not in open_symbols]
        for symbol in gone:
            del self._by_symbol[symbol]
        return gone

    def restore(self, theses: Mapping[str, Thesis]) -> None:
        """Add theses read back from the journal (recovery) for positions without one."""
        for symbol, thesis in theses.items():
            self._by_symbol.setdefault(symbol, thesis)

    def copy(self) -> dict[str, Thesis]:
        """A plain copy (for the API and tests)."""
        return dict(self._by_symbol)
