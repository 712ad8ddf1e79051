"""From a model's raw reply to a validated decision. Pure.

Replies are messy: reasoning in ``<think>`` blocks, JSON inside Markdown fences, prose
before or after the object. :func:`extract_json` finds the first complete JSON object;
:func:`parse_decision` validates it against the schema, maps assets to symbols, drops (and
records) unknown symbols and duplicates, and checks every invalidation condition against
the grammar. Anything else is a :class:`DecisionParseError` whose message is what the
repair round-trip sends back to the model.
"""

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import ValidationError

from app.llm.schemas import AssetDecisionModel, DecisionModel
from app.trading.domain import Action, Proposal
from app.trading.invalidation import Condition, InvalidationError, parse_condition

_THINK: Final = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FENCE: Final = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_MAX_REPLY: Final = 200_000


class DecisionParseError(ValueError):
    """The reply is not a valid decision; the message says what is wrong, for the model."""


@dataclass(frozen=True, slots=True)
class ParsedLeg:
    """One asset's validated decision."""

    proposal: Proposal
    confidence: float
    rationale: str
    invalidation: Condition | None
    invalidation_text: str


@dataclass(frozen=True, slots=True)
class ParsedDecision:
    """A validated decision; ``dropped`` notes what was ignored and why."""

    legs: tuple[ParsedLeg, ...]
    summary: str
    dropped: tuple[str, ...] = ()


def extract_json(text: str) -> str:
    """The first complete JSON object in ``text``.

    Raises:
        DecisionParseError: There is none.
    """
    if len(text) > _MAX_REPLY:
        raise DecisionParseError(f"reply too long ({len(text)} characters)")
    cleaned = _THINK.sub("", text)
    fenced = _FENCE.search(cleaned)
    if fenced and "{" in fenced.group(1):
        cleaned = fenced.group(1)
    start = cleaned.find("{")
    if start < 0:
        raise DecisionParseError("the reply contains no JSON object")
    end = _matching_brace(cleaned, start)
    if end is None:
        raise DecisionParseError("the JSON object is incomplete (truncated reply?)")
    return cleaned[start : end + 1]


def _matching_brace(text: str, start: int) -> int | None:
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def parse_decision(
    text: str | None,
    *,
    symbols: Mapping[str, str],
    features: Collection[str],
    intervals: Collection[str],
) -> ParsedDecision:
    """Validate a reply into a decision.

    Args:
        text: The model's reply content.
        symbols: Accepted names (assets and symbols, upper case) -> exchange symbol.
        features: Feature names the invalidation grammar accepts.
        intervals: Intervals the invalidation grammar accepts.

    Raises:
        DecisionParseError: The reply cannot be a decision (the message lists every problem).
    """
    if not text or not text.strip():
        raise DecisionParseError("the reply is empty")
    try:
        document = json.loads(extract_json(text))
    except json.JSONDecodeError as exc:
        raise DecisionParseError(f"invalid JSON: {exc.msg} at position {exc.pos}") from exc
    try:
        model = DecisionModel.model_validate(document)
    except ValidationError as exc:
        raise DecisionParseError(_describe(exc)) from exc
    legs: list[ParsedLeg] = []
    dropped: list[str] = []
    problems: list[str] = []
    for index, item in enumerate(model.decisions):
        symbol = symbols.get(item.symbol.strip().upper())
        if symbol is None:
            dropped.append(f"decisions[{index}]: unknown symbol {item.symbol!r} ignored")
            continue
        if any(leg.proposal.symbol == symbol for leg in legs):
            dropped.append(f"decisions[{index}]: second decision for {symbol} ignored")
            continue
        try:
            legs.append(_leg(item, symbol, features, intervals))
        except InvalidationError as exc:
            problems.append(f"decisions[{index}].invalidation.condition: {exc}")
    if problems:
        raise DecisionParseError("; ".join(problems))
    return ParsedDecision(tuple(legs), model.summary, tuple(dropped))


def _leg(
    item: AssetDecisionModel, symbol: str, features: Collection[str], intervals: Collection[str]
) -> ParsedLeg:
    condition = None
    if item.invalidation is not None and item.invalidation.condition.strip():
        condition = parse_condition(
            item.invalidation.condition, features=features, intervals=intervals
        )
    return ParsedLeg(
        proposal=Proposal(
            symbol=symbol,
            action=Action(item.action),
            size_usd=item.size_usd,
            leverage=item.leverage,
            stop_loss=item.stop_loss,
            take_profit=item.take_profit,
        ),
        confidence=item.confidence,
        rationale=item.rationale,
        invalidation=condition,
        invalidation_text=item.invalidation.text if item.invalidation else "",
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:20]:
        where = ".".join(str(p) for p in error["loc"]) or "reply"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
