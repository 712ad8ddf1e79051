"""Exchange rules used when the exchange cannot be asked (offline replay).

Values as AsterDEX lists them for the bundled symbols (spec §3.1 example and live
captures): tick and step sizes, lot bounds and the 5 USDT minimum notional.
"""

from decimal import Decimal
from typing import Final

from app.exchange.filters import SymbolFilters


def _filters(symbol: str, tick: str, step: str, market_max: str) -> SymbolFilters:
    return SymbolFilters(
        symbol=symbol,
        status="TRADING",
        tick_size=Decimal(tick),
        min_price=Decimal(tick),
        max_price=Decimal(1_000_000),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(100_000),
        market_step_size=Decimal(step),
        market_min_qty=Decimal(step),
        market_max_qty=Decimal(market_max),
        min_notional=Decimal(5),
        multiplier_up=Decimal("1.05"),
        multiplier_down=Decimal("0.95"),
    )


OFFLINE_FILTERS: Final = {
    "BTCUSDT": _filters("BTCUSDT", "0.1", "0.001", "120"),
    "ETHUSDT": _filters("ETHUSDT", "0.01", "0.001", "2000"),
    "SOLUSDT": _filters("SOLUSDT", "0.01", "0.01", "4000"),
}
