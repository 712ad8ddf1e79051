"""Parsing adversarial replies into decisions."""

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.llm.parsing import DecisionParseError, extract_json, parse_decision
from app.trading.domain import Action

from .factories import FEATURES

SYMBOLS = {"BTC": "BTCUSDT", "BTCUSDT": "BTCUSDT", "ETH": "ETHUSDT", "ETHUSDT": "ETHUSDT"}
GOOD: dict[str, Any] = {
    "decisions": [
        {
            "symbol": "BTC",
            "action": "open_long",
            "size_usd": 2500,
            "leverage": 2,
            "stop_loss": 61000,
            "take_profit": 66000,
            "invalidation": {"condition": "close_4h < ema50_4h", "text": "trend broken"},
            "confidence": 0.7,
            "rationale": "trend",
        },
        {
            "symbol": "ETHUSDT",
            "action": "hold",
            "size_usd": None,
            "leverage": None,
            "stop_loss": None,
            "take_profit": None,
            "invalidation": None,
            "confidence": 0.4,
            "rationale": "",
        },
    ],
    "summary": "one long",
}


def parse(text: str | None):  # type: ignore[no-untyped-def]
    return parse_decision(text, symbols=SYMBOLS, features=FEATURES, intervals={"1h", "4h"})


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps(GOOD),
        "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
        "<think>BTC looks strong {not json}</think>\n" + json.dumps(GOOD),
        "Here is my decision:\n" + json.dumps(GOOD) + "\nLet me know if you need more.",
        "\n\n\n" + json.dumps(GOOD),
    ],
)
def test_messy_wrappers_are_peeled_off(reply: str) -> None:
    decision = parse(reply)

    btc, eth = decision.legs
    assert btc.proposal.symbol == "BTCUSDT"
    assert btc.proposal.action is Action.OPEN_LONG
    assert btc.invalidation is not None
    assert btc.invalidation.canonical == "close_4h < ema_50_4h"
    assert eth.proposal.action is Action.HOLD


def test_an_unclosed_think_block_hides_everything_after_it() -> None:
    with pytest.raises(DecisionParseError, match="no JSON object"):
        parse("<think>unclosed reasoning... " + json.dumps(GOOD))


def test_unknown_symbols_and_duplicates_are_dropped_and_recorded() -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["decisions"].append({**doc["decisions"][1], "symbol": "DOGE"})
    doc["decisions"].append({**doc["decisions"][0], "symbol": "BTCUSDT"})

    decision = parse(json.dumps(doc))

    assert [leg.proposal.symbol for leg in decision.legs] == ["BTCUSDT", "ETHUSDT"]
    assert decision.dropped == (
        "decisions[2]: unknown symbol 'DOGE' ignored",
        "decisions[3]: second decision for BTCUSDT ignored",
    )


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (None, "empty"),
        ("", "empty"),
        ("I would hold everything.", "no JSON object"),
        (json.dumps(GOOD)[:120], "incomplete"),
        ('{"decisions": [}', "invalid JSON"),
        (
            json.dumps({"decisions": [{"symbol": "BTC", "action": "buy"}], "summary": ""}),
            "decisions.0.action",
        ),
        (json.dumps({**GOOD, "extra": 1}), "extra"),
        (
            json.dumps({"decisions": [{**GOOD["decisions"][0], "confidence": 3}], "summary": ""}),
            "confidence",
        ),
        (
            json.dumps({"decisions": [{**GOOD["decisions"][0], "size_usd": "NaN"}], "summary": ""}),
            "size_usd",
        ),
        (
            json.dumps(
                {
                    "decisions": [
                        {
                            **GOOD["decisions"][0],
                            "invalidation": {"condition": "rsi_2d > 3", "text": ""},
                        }
                    ],
                    "summary": "",
                }
            ),
            "invalidation.condition",
        ),
    ],
)
def test_invalid_replies_say_what_is_wrong(reply: str | None, fragment: str) -> None:
    with pytest.raises(DecisionParseError, match=fragment):
        parse(reply)


def test_extract_json_ignores_braces_inside_strings() -> None:
    text = 'x {"summary": "a } brace", "decisions": []} trailing }'

    assert json.loads(extract_json(text)) == {"summary": "a } brace", "decisions": []}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_parses_or_raises_the_parse_error_only(text: str) -> None:
    with contextlib.suppress(DecisionParseError):
        parse(text)
