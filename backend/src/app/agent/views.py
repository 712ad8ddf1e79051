"""How the loop sees the account: risk-engine snapshots and the decision context."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from app.agent.cycle import AgentConfig
from app.agent.theses import Thesis
from app.exchange.ports import AccountState, Exchange
from app.indicators.schemas import AssetFeatures
from app.llm.context import AssetView, DecisionContext, HistoryItem, PositionView
from app.market_data.ports import MarkState
from app.trading.domain import (
    AccountSnapshot,
    LegStatus,
    LegVerdict,
    MarketSnapshot,
    Position,
    PositionSide,
)


def _side(amount: Decimal) -> PositionSide:
    return PositionSide.LONG if amount > 0 else PositionSide.SHORT


def account_snapshot(
    state: AccountState, theses: Mapping[str, Thesis], now: datetime
) -> AccountSnapshot:
    """Equity, free margin and positions as the risk engine wants them."""
    positions = {
        s: Position(
            s,
            _side(p.amount),
            abs(p.amount),
            p.entry_price,
            theses[s].opened_at if s in theses else now,
        )
        for s, p in state.positions.items()
    }
    return AccountSnapshot(state.equity, state.available_balance, positions)


def decision_context(
    config: AgentConfig,
    now: datetime,
    state: AccountState,
    features: Mapping[str, AssetFeatures],
    marks: Mapping[str, MarkState | None],
    theses: Mapping[str, Thesis],
    history: Sequence[HistoryItem],
    halted: str | None,
) -> DecisionContext:
    """Everything the provider is told for one decision."""
    assets = []
    for asset, symbol in config.symbols.items():
        mark = marks.get(symbol)
        if mark is not None:
            price = mark.mark_price
        else:  # no mark read yet: the last close stands in
            price = Decimal(str(features[symbol].timeframes[config.interval].close))
        assets.append(
            AssetView(
                asset,
                symbol,
                features[symbol],
                price,
                mark.funding_rate if mark else Decimal(0),
                mark.next_funding_time if mark else None,
            )
        )
    positions = []
    for s, p in state.positions.items():
        thesis = theses.get(s)
        positions.append(
            PositionView(
                s,
                _side(p.amount),
                abs(p.amount),
                p.entry_price,
                p.mark_price,
                p.unrealized_pnl,
                thesis.stop_loss if thesis else None,
                thesis.take_profit if thesis else None,
                thesis.text if thesis else "",
                thesis.opened_at if thesis else now,
            )
        )
    return DecisionContext(
        account_id=config.account_id,
        now=now,
        interval=config.interval,
        long_interval=config.long_interval,
        equity=state.equity,
        free_margin=state.available_balance,
        positions=tuple(positions),
        assets=tuple(assets),
        history=tuple(history[-10:]),
        limits=config.limits,
        halted_reason=halted,
    )


def remember(history: list[HistoryItem], now: datetime, verdict: LegVerdict) -> None:
    """Add a verdict that did something to the recent history the prompt shows (last 20)."""
    if verdict.status is LegStatus.HOLD and not verdict.adjustments:
        return
    outcome = verdict.rejection or (
        f"{len(verdict.orders)} order(s), notional {verdict.notional_usd:.2f}"
        if verdict.orders
        else "no order"
    )
    history.append(
        HistoryItem(
            now,
            verdict.proposal.symbol,
            verdict.proposal.action.value,
            verdict.status.value,
            outcome,
        )
    )
    del history[:-20]


async def market_snapshots(
    marks: Mapping[str, MarkState | None],
    exchange: Exchange,
    features: Mapping[str, AssetFeatures],
    interval: str,
) -> dict[str, MarketSnapshot]:
    """What the risk engine needs per symbol: the mark, the ATR and the exchange filters."""
    markets = {}
    for symbol, asset in features.items():
        mark = marks.get(symbol)
        frame = asset.timeframes.get(interval)
        atr = frame.values.get("atr") if frame else None
        price = mark.mark_price if mark else Decimal(str(frame.close if frame else 0))
        markets[symbol] = MarketSnapshot(
            mark_price=price,
            atr=Decimal(str(atr)) if atr is not None else None,
            filters=await exchange.symbol_filters(symbol),
        )
    return markets
