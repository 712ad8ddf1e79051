"""Invalidation conditions: the model's machine-checkable "close the position when ..." rule.

Every entry the model proposes carries a boolean expression over the asset's market features,
such as ``close_4h < ema50_4h``. The runtime evaluates it on every closed candle and closes the
position when it holds. The text comes from a model, so it is read by a hand-written tokenizer
and recursive-descent parser (never ``eval``, ``exec`` or ``ast``) into a tree of frozen
dataclasses, and evaluated by walking that tree.

The grammar is a trading concept, not an LLM one: a condition on features that ends a
position's thesis. So it lives with the trading domain and imports nothing of ``app.llm``;
the model's reply parser, the rules provider and the agent's theses use it.

Grammar (EBNF; whitespace is free between tokens, keywords are case-insensitive)::

    expr       = or_expr ;
    or_expr    = and_expr , { ( "or" | "||" ) , and_expr } ;
    and_expr   = not_expr , { ( "and" | "&&" ) , not_expr } ;
    not_expr   = ( "not" | "!" ) , not_expr | "(" , expr , ")" | comparison ;
    comparison = sum , COMPARATOR , sum ;
    sum        = product , { ( "+" | "-" ) , product } ;
    product    = unary , { ( "*" | "/" ) , unary } ;
    unary      = "-" , unary | NUMBER | VARIABLE | "(" , sum , ")" ;
    COMPARATOR = "<" | "<=" | ">" | ">=" | "==" | "!=" ;
    NUMBER     = ( DIGITS , [ "." , [ DIGITS ] ] | "." , DIGITS ) ,
                 [ ( "e" | "E" ) , [ "+" | "-" ] , DIGITS ] , [ "%" ] ;
    VARIABLE   = FEATURE , "_" , INTERVAL ;

- ``%`` divides by 100: ``change_24_1h < -5%`` compares with ``-0.05``. A number is zero or has
  a magnitude of at least 1e-20 and below 1e20.
- FEATURE is one of the caller's feature names, case-insensitive. An underscore before a digit
  may be dropped (``ema50`` is ``ema_50``), and ``price``, ``bb_mid`` and ``macdhist`` stand for
  ``close``, ``bb_middle`` and ``macd_hist``.
- INTERVAL is an AsterDEX kline interval (case-sensitive: ``1m`` is a minute, ``1M`` a month)
  among the caller's allowed intervals.
- Limits: at most ``MAX_LENGTH`` characters (as written and in canonical form, so that a stored
  canonical text always parses again), ``MAX_COMPARISONS`` comparisons, and ``MAX_DEPTH``
  nested parentheses, ``not`` and unary minus.

Evaluation is three-valued (Kleene): a comparison is unknown (``None``) when a variable is
missing, ``None``, NaN or infinite, or when arithmetic divides by zero or overflows. ``and`` and
``or`` still decide when the known operands suffice (``false and unknown`` is false). ``==`` and
``!=`` compare with a relative tolerance of 1e-9; the other comparators are exact.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from app.trading.invalidation._ast import BoolExpr, truth
from app.trading.invalidation._common import (
    ASTERDEX_INTERVALS,
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    WHITESPACE,
    InvalidationError,
)
from app.trading.invalidation._parser import Parser, render
from app.trading.invalidation._tokens import Vocabulary

__all__ = [
    "ASTERDEX_INTERVALS",
    "MAX_COMPARISONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Condition",
    "InvalidationError",
    "feature_values",
    "parse_condition",
]


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed invalidation condition; build it with `parse_condition`.

    Attributes:
        source: The text as written.
        canonical: Normalised text (canonical variable names, lowercase keywords, plain decimal
            numbers, single spaces): deterministic, so it can be stored, compared and hashed, and
            parsing it again gives the same condition.
        variables: Canonical names (``<feature>_<interval>``) of the variables it reads.
    """

    source: str
    canonical: str
    variables: frozenset[str]
    _root: BoolExpr = field(repr=False, compare=False)

    def evaluate(self, values: Mapping[str, float | None]) -> bool | None:
        """Whether the condition holds for these variable values; never raises.

        Args:
            values: Values by canonical variable name (see `feature_values`); extra keys are
                ignored.

        Returns:
            True or False, or None when the answer is unknown (a variable is missing, None, NaN
            or infinite, or a division by zero or an overflow happens): the caller must not act.
        """
        return truth(self._root, values)


def parse_condition(
    text: str, *, features: Collection[str], intervals: Collection[str]
) -> Condition:
    """Parse an invalidation condition written by the model.

    Args:
        text: The condition, e.g. ``close_4h < ema50_4h``.
        features: Known feature names, e.g. ``{"close", "ema_50", "change_24"}``.
        intervals: Intervals the condition may use, e.g. ``{"1h", "4h"}``.

    Returns:
        The parsed condition.

    Raises:
        InvalidationError: The text breaks the grammar, names an unknown variable or exceeds a
            limit.
        ValueError: ``features`` or ``intervals`` are invalid (a programming error).
    """
    vocabulary = Vocabulary.build(features, intervals)
    if len(text) > MAX_LENGTH:
        message = f"condition too long: {len(text)} characters (at most {MAX_LENGTH})"
        raise InvalidationError(message, expression=text, position=MAX_LENGTH)
    if not text.strip(WHITESPACE):
        raise InvalidationError("empty condition at 0", expression=text, position=0)
    parser = Parser(text, vocabulary)
    root = parser.parse()
    canonical = render(root)
    if len(canonical) > MAX_LENGTH:
        message = (
            f"condition too long once normalised: {len(canonical)} characters "
            f"(at most {MAX_LENGTH}): {canonical}"
        )
        raise InvalidationError(message, expression=text, position=0)
    return Condition(text, canonical, frozenset(parser.variables), root)


def feature_values(timeframes: Mapping[str, Mapping[str, float | None]]) -> dict[str, float | None]:
    """Flatten features by interval into the variables a condition reads.

    Args:
        timeframes: Feature values by interval, e.g. ``{"1h": {"close": 1.0, "ema_50": 2.0}}``.

    Returns:
        Values by ``<feature>_<interval>``, e.g. ``{"close_1h": 1.0, "ema_50_1h": 2.0}``.
    """
    return {
        f"{feature}_{interval}": value
        for interval, values in timeframes.items()
        for feature, value in values.items()
    }
