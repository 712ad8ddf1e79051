"""A fixed decision context on real candles, shared by the LLM tests."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.exchange.types import Kline
from app.indicators.features import asset_features, feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.context import AssetView, DecisionContext, HistoryItem, PositionView
from app.trading.domain import PositionSide, RiskLimits
from tests.data import real_klines

CONFIG = IndicatorConfig()
FEATURES = feature_names(CONFIG)
LIMITS = RiskLimits(
    max_position_usd=Decimal(10_000),
    max_leverage=Decimal(2),
    max_total_exposure_usd=Decimal(30_000),
)
NOW = datetime(2026, 4, 1, 12, 1, tzinfo=UTC)


def _window(symbol: str, interval: str, count: int) -> list[Kline]:
    candles = [
        k
        for k in real_klines(symbol, interval)
        if k.open_time < datetime(2026, 4, 1, 12, tzinfo=UTC)
    ]
    return candles[-count:]


def context(*, with_position: bool = True) -> DecisionContext:
    assets = []
    for asset in ("BTC", "ETH", "SOL"):
        symbol = f"{asset}USDT"
        hourly = _window(symbol, "1h", 250)
        four = _window(symbol, "4h", 250)
        features = asset_features(asset, symbol, {"1h": hourly, "4h": four}, CONFIG)
        assets.append(
            AssetView(
                asset,
                symbol,
                features,
                hourly[-1].close,
                Decimal("0.0001"),
                datetime(2026, 4, 1, 16, tzinfo=UTC),
            )
        )
    positions: tuple[PositionView, ...] = ()
    if with_position:
        positions = (
            PositionView(
                "ETHUSDT",
                PositionSide.LONG,
                Decimal("1.5"),
                Decimal(1800),
                Decimal(1825),
                Decimal("37.5"),
                Decimal(1750),
                Decimal(1900),
                "4h trend up, RSI reset",
                NOW - timedelta(hours=6),
            ),
        )
    history = (
        HistoryItem(
            NOW - timedelta(hours=6), "ETHUSDT", "open_long", "approved", "filled 1.5 @ 1800"
        ),
    )
    return DecisionContext(
        account_id="default",
        now=NOW,
        interval="1h",
        long_interval="4h",
        equity=Decimal(10_250),
        free_margin=Decimal(8_900),
        positions=positions,
        assets=tuple(assets),
        history=history,
        limits=LIMITS,
    )
