"""Asset names of the configuration (``BTC``) <-> exchange symbols (``BTCUSDT``)."""

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
