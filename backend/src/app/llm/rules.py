"""The rules-based decision provider: deterministic trend/momentum with ATR stops. Pure.

Used when no OpenRouter key is configured, when the LLM budget is spent or credits ran out,
in tests and in demos. The rule, per asset (``i`` = decision interval, ``L`` = context
interval):

- **Long entry** when flat and the context trend is up (close_L > ema_50_L > ema_200_L),
  momentum agrees on the decision interval (macd_hist_i > 0 and 50 < rsi_i < 70) and ADX_i
  >= 20. **Short entry** mirrors it (below both EMAs, macd_hist_i < 0, 30 < rsi_i < 50).
- Stop 2 ATR_i from the close, target 3 ATR_i (reward/risk 1.5); size half of the maximum
  position; leverage the maximum allowed; invalidation: the close crossing the context
  EMA 50 against the trade.
- **Close** a position when its context trend has flipped (close_L back across ema_50_L).
- Otherwise hold.
"""

from decimal import Decimal
from typing import Final

from app.indicators.schemas import TimeframeFeatures
from app.llm.context import AssetView, DecisionContext
from app.llm.parsing import ParsedDecision, ParsedLeg
from app.llm.ports import DecisionOutcome
from app.trading.domain import Action, PositionSide, Proposal
from app.trading.invalidation import Condition, parse_condition

RULES_NAME: Final = "trend-momentum-v1"
STOP_ATR: Final = Decimal(2)
TARGET_ATR: Final = Decimal(3)
MIN_ADX: Final = 20.0


class RulesDecisionProvider:
    """Implements :class:`~app.llm.ports.DecisionProvider` without any model."""

    name = "rules"

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """The rule's decision for every asset (never fails)."""
        held = {p.symbol: p.side for p in context.positions}
        legs = tuple(_decide_asset(view, held.get(view.symbol), context) for view in context.assets)
        opened = sum(1 for leg in legs if leg.proposal.action.opens)
        summary = f"{RULES_NAME}: {opened} entr{'y' if opened == 1 else 'ies'}, rule-based"
        return DecisionOutcome(
            provider=self.name,
            model=RULES_NAME,
            prompt_version=None,
            decision=ParsedDecision(legs=legs, summary=summary),
        )


def _hold(symbol: str, why: str) -> ParsedLeg:
    return ParsedLeg(Proposal(symbol, Action.HOLD), 0.0, why, None, "")


def _decide_asset(
    view: AssetView, position: PositionSide | None, context: DecisionContext
) -> ParsedLeg:
    short_tf = view.features.timeframes.get(context.interval)
    long_tf = view.features.timeframes.get(context.long_interval)
    if short_tf is None or long_tf is None:
        return _hold(view.symbol, "missing timeframe")
    trend = _trend(long_tf)
    if position is not None:
        against = (position is PositionSide.LONG and trend != "up") or (
            position is PositionSide.SHORT and trend != "down"
        )
        if against:
            return ParsedLeg(
                Proposal(view.symbol, Action.CLOSE), 0.6, f"context trend is now {trend}", None, ""
            )
        return _hold(view.symbol, f"trend still {trend}")
    side = _entry_side(short_tf, trend)
    atr = short_tf.values.get("atr")
    if side is None or atr is None or atr <= 0:
        return _hold(view.symbol, f"no setup (trend {trend})")
    return _entry(view, side, Decimal(str(atr)), context)


def _trend(frame: TimeframeFeatures) -> str:
    ema50, ema200 = frame.values.get("ema_50"), frame.values.get("ema_200")
    if ema50 is None or ema200 is None:
        return "unknown"
    if frame.close > ema50 > ema200:
        return "up"
    if frame.close < ema50 < ema200:
        return "down"
    return "mixed"


def _entry_side(frame: TimeframeFeatures, trend: str) -> PositionSide | None:
    hist, rsi, adx = (frame.values.get(k) for k in ("macd_hist", "rsi", "adx"))
    if hist is None or rsi is None or adx is None or adx < MIN_ADX:
        return None
    if trend == "up" and hist > 0 and 50 < rsi < 70:
        return PositionSide.LONG
    if trend == "down" and hist < 0 and 30 < rsi < 50:
        return PositionSide.SHORT
    return None


def _entry(
    view: AssetView, side: PositionSide, atr: Decimal, context: DecisionContext
) -> ParsedLeg:
    price = view.mark_price
    sign = Decimal(1) if side is PositionSide.LONG else Decimal(-1)
    cross = "<" if side is PositionSide.LONG else ">"
    condition: Condition = parse_condition(
        f"close_{context.long_interval} {cross} ema_50_{context.long_interval}",
        features={"close", "ema_50"},
        intervals={context.long_interval},
    )
    action = Action.OPEN_LONG if side is PositionSide.LONG else Action.OPEN_SHORT
    return ParsedLeg(
        Proposal(
            view.symbol,
            action,
            size_usd=context.limits.max_position_usd / 2,
            leverage=context.limits.max_leverage,
            stop_loss=price - sign * STOP_ATR * atr,
            take_profit=price + sign * TARGET_ATR * atr,
        ),
        0.55,
        f"{side} with the {context.long_interval} trend; macd and rsi agree",
        condition,
        f"{context.long_interval} close back across EMA 50",
    )
