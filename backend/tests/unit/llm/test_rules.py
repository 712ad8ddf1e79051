"""The rules-based provider on real candles."""

from dataclasses import replace
from decimal import Decimal

from app.llm.rules import RULES_NAME, RulesDecisionProvider
from app.trading.domain import Action

from .factories import context


async def test_rules_decide_every_asset_deterministically() -> None:
    provider = RulesDecisionProvider()
    first = await provider.decide(context())
    second = await provider.decide(context())

    assert first == second
    assert first.provider == "rules"
    assert first.model == RULES_NAME
    assert first.decision is not None
    assert [leg.proposal.symbol for leg in first.decision.legs] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


async def test_entries_carry_atr_stops_targets_and_an_invalidation() -> None:
    ctx = context(with_position=False)
    outcome = await RulesDecisionProvider().decide(ctx)
    assert outcome.decision is not None
    for leg in outcome.decision.legs:
        p = leg.proposal
        if not p.action.opens:
            continue
        mark = next(a.mark_price for a in ctx.assets if a.symbol == p.symbol)
        assert p.stop_loss is not None
        assert p.take_profit is not None
        if p.action is Action.OPEN_LONG:
            assert p.stop_loss < mark < p.take_profit
        else:
            assert p.take_profit < mark < p.stop_loss
        assert p.size_usd == Decimal(5000)
        assert leg.invalidation is not None


async def test_missing_timeframes_hold() -> None:
    ctx = context()
    stripped = replace(ctx, long_interval="1d")

    outcome = await RulesDecisionProvider().decide(stripped)

    assert outcome.decision is not None
    assert all(leg.proposal.action is Action.HOLD for leg in outcome.decision.legs)
