"""Invalidation: a position whose thesis no longer holds is closed at the next closed candle."""

from collections.abc import Mapping
from datetime import datetime

from app.agent.execution import Executor
from app.agent.theses import Theses
from app.exchange.ports import AccountState
from app.indicators.schemas import AssetFeatures
from app.trading.invalidation import feature_values


async def close_invalidated(
    executor: Executor,
    theses: Theses,
    features: Mapping[str, AssetFeatures],
    state: AccountState,
    now: datetime,
) -> list[str]:
    """Close every position whose invalidation condition holds; returns their symbols.

    ``theses`` is updated in place: closed (and already gone) positions lose theirs.
    """
    closed: list[str] = []
    for symbol, thesis in list(theses.items()):
        position = state.positions.get(symbol)
        if position is None:
            theses.drop(symbol)
            continue
        if thesis.condition is None or symbol not in features:
            continue
        values = feature_values(
            {i: {"close": f.close, **f.values} for i, f in features[symbol].timeframes.items()}
        )
        if thesis.condition.evaluate(values) is True:
            if not await executor.close_position(position, "inv", now):
                continue  # it stays open, so it keeps its thesis and its protection
            await executor.event(
                "position.invalidated",
                f"{symbol}: {thesis.condition.canonical} holds; closed",
                payload={"symbol": symbol},
            )
            theses.drop(symbol)
            closed.append(symbol)
    return closed
