"""Asset names of the configuration (``BTC``) <-> exchange symbols (``BTCUSDT``)."""

from collections.abc import Iterable, Set
from typing import Final

QUOTE: Final = "USDT"


def symbol_for(asset: str) -> str:
    """``BTC`` -> ``BTCUSDT``; a name that already ends in USDT is kept."""
    name = asset.strip().upper()
    return name if name.endswith(QUOTE) and name != QUOTE else f"{name}{QUOTE}"


def asset_for(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC``."""
    return symbol.removesuffix(QUOTE) or symbol


class UnknownAssetError(ValueError):
    """Configured assets the exchange does not list, with what it does list."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        sample = ", ".join(sorted(asset_for(s) for s in known)[:20])
        super().__init__(
            f"unknown asset(s) {', '.join(unknown)}: the exchange lists no "
            f"{', '.join(symbol_for(a) for a in unknown)} perpetual (known include: {sample})"
        )
        self.unknown = unknown


def resolve_assets(assets: Iterable[str], known: Set[str]) -> dict[str, str]:
    """Map configured assets to the symbols in ``known`` (what a market source lists).

    Raises:
        UnknownAssetError: An asset has no perpetual among ``known``.
    """
    mapping = {asset: symbol_for(asset) for asset in assets}
    unknown = [asset for asset, symbol in mapping.items() if symbol not in known]
    if unknown:
        raise UnknownAssetError(unknown, sorted(known))
    return mapping
