"""The tokenizer, and the vocabulary of feature names and intervals it resolves variables with."""

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from decimal import Decimal
from difflib import get_close_matches
from typing import Final, Literal

from app.trading.invalidation._common import ASTERDEX_INTERVALS, WHITESPACE, InvalidationError

_FRIENDLY_ALIASES: Final = {"price": "close", "bb_mid": "bb_middle", "macdhist": "macd_hist"}
_MAX_EXPONENT: Final = 20
_NUMBER_RE: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What may not touch a number: "1.2.3", "70abc" and "5%%" are typos, not two tokens.
_NUMBER_TAIL_RE: Final = re.compile(r"[A-Za-z0-9_.%]*")
_INTERVAL_LIKE_RE: Final = re.compile(r"[0-9]+[A-Za-z]+")
_UNDERSCORE_BEFORE_DIGIT_RE: Final = re.compile(r"_(?=[0-9])")

type Kind = Literal[
    "num", "var", "cmp", "add", "mul", "lparen", "rparen", "and", "or", "not", "end"
]

# Two-character symbols first, so that "<=" is never read as "<" then "=".
_SYMBOLS: Final[dict[str, tuple[Kind, str]]] = {
    "<=": ("cmp", "<="), ">=": ("cmp", ">="), "==": ("cmp", "=="), "!=": ("cmp", "!="),
    "&&": ("and", "and"), "||": ("or", "or"), "<": ("cmp", "<"), ">": ("cmp", ">"),
    "!": ("not", "not"), "(": ("lparen", "("), ")": ("rparen", ")"),
    "+": ("add", "+"), "-": ("add", "-"), "*": ("mul", "*"), "/": ("mul", "/"),
}  # fmt: skip
_KEYWORDS: Final[dict[str, Kind]] = {"and": "and", "or": "or", "not": "not"}
_CHARACTER_HINTS: Final = {
    "=": " (use '==' to compare)",
    "&": " (use 'and' or '&&')",
    "|": " (use 'or' or '||')",
}


def _key(name: str) -> str:
    return _UNDERSCORE_BEFORE_DIGIT_RE.sub("", name.lower())


@dataclass(frozen=True, slots=True)
class Vocabulary:
    features: dict[str, str]  # _key(name) -> canonical name
    intervals: tuple[str, ...]  # allowed, in AsterDEX order

    @classmethod
    def build(cls, features: Collection[str], intervals: Collection[str]) -> "Vocabulary":
        for interval in intervals:
            if interval not in ASTERDEX_INTERVALS:
                raise ValueError(f"{interval!r} is not an AsterDEX kline interval")
        by_key: dict[str, str] = {}
        for feature in sorted(features):
            if not _WORD_RE.fullmatch(feature):
                raise ValueError(f"feature name {feature!r} is not an identifier")
            if (other := by_key.setdefault(_key(feature), feature)) != feature:
                raise ValueError(f"feature names {other!r} and {feature!r} are ambiguous")
        wanted = set(intervals)
        return cls(by_key, tuple(i for i in ASTERDEX_INTERVALS if i in wanted))

    def resolve(self, word: str, position: int, text: str) -> str:
        """Canonical name of the variable ``word`` found at ``position``."""
        head, _, interval = word.rpartition("_")
        if not head or not _INTERVAL_LIKE_RE.fullmatch(interval):
            if (feature := self._feature(word)) is None:
                raise self._unknown_feature(word, position, text)
            example = f"{feature}_{self.intervals[0]}" if self.intervals else feature
            message = f"missing interval in '{word}' at {position} (write e.g. '{example}')"
            raise InvalidationError(message, expression=text, position=position)
        if (feature := self._feature(head)) is None:
            raise self._unknown_feature(head, position, text)
        at = position + len(head) + 1
        allowed = f"(allowed: {', '.join(self.intervals)})"
        if interval not in ASTERDEX_INTERVALS:
            message = f"unknown interval '{interval}' in '{word}' at {at} {allowed}"
            raise InvalidationError(message, expression=text, position=at)
        if interval not in self.intervals:
            message = f"interval '{interval}' in '{word}' at {at} is not allowed {allowed}"
            raise InvalidationError(message, expression=text, position=at)
        return f"{feature}_{interval}"

    def _feature(self, name: str) -> str | None:
        key = _key(name)
        if key not in self.features and key in _FRIENDLY_ALIASES:
            key = _key(_FRIENDLY_ALIASES[key])
        return self.features.get(key)

    def _unknown_feature(self, name: str, position: int, text: str) -> InvalidationError:
        guesses = get_close_matches(_key(name), self.features, n=1)
        hint = f", did you mean '{self.features[guesses[0]]}'?" if guesses else ""
        known = ", ".join(sorted(self.features.values()))
        message = f"unknown feature '{name}' at {position}{hint} (known: {known})"
        return InvalidationError(message, expression=text, position=position)


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # canonical spelling
    raw: str  # as written
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.raw)

    def describe(self) -> str:
        return "end of input" if self.kind == "end" else f"'{self.raw}'"


def tokenize(text: str, vocabulary: Vocabulary) -> Iterator[Token]:
    # Lazy, so that the parser reports the leftmost error whether it is lexical or not.
    position = 0
    while True:
        while position < len(text) and text[position] in WHITESPACE:
            position += 1
        if position == len(text):
            yield Token("end", "", "", position)
            return
        token = _scan(text, position, vocabulary)
        yield token
        position = token.end


def _scan(text: str, position: int, vocabulary: Vocabulary) -> Token:
    if number := _NUMBER_RE.match(text, position):
        return _number_token(text, number)
    if word := _WORD_RE.match(text, position):
        raw = word.group()
        if (keyword := _KEYWORDS.get(raw.lower())) is not None:
            return Token(keyword, keyword, raw, position)
        return Token("var", vocabulary.resolve(raw, position, text), raw, position)
    for symbol, (kind, spelling) in _SYMBOLS.items():
        if text.startswith(symbol, position):
            return Token(kind, spelling, symbol, position)
    character = text[position]
    message = f"unexpected character {character!r} at {position}"
    raise InvalidationError(
        message + _CHARACTER_HINTS.get(character, ""), expression=text, position=position
    )


def _number_token(text: str, number: re.Match[str]) -> Token:
    start, end = number.span()
    percent = text.startswith("%", end)
    stop = end + 1 if percent else end
    tail = _NUMBER_TAIL_RE.match(text, stop)
    if tail is not None and tail.group():
        message = f"malformed number '{text[start:tail.end()]}' at {start}"
        raise InvalidationError(message, expression=text, position=start)
    canonical = _canonical_number(number.group(), percent=percent)
    raw = text[start:stop]
    if canonical is None:
        message = (
            f"number '{raw}' at {start} is out of range "
            f"(zero, or at least 1e-{_MAX_EXPONENT} and below 1e{_MAX_EXPONENT})"
        )
        raise InvalidationError(message, expression=text, position=start)
    return Token("num", canonical, raw, start)


def _canonical_number(literal: str, *, percent: bool) -> str | None:
    # Decimal keeps the written digits exactly, so "1.1%" becomes "0.011" rather than the float
    # 0.011000000000000001, and the canonical text parses back to the very same float.
    try:
        sign, digits, exponent = Decimal(literal).as_tuple()
    except ArithmeticError:  # an exponent beyond what Decimal accepts
        return None
    if not isinstance(exponent, int):  # pragma: no cover - the regex admits no inf or nan
        return None
    number = Decimal((sign, digits, exponent - 2 if percent else exponent))
    if number.is_zero():
        return "0"
    if not -_MAX_EXPONENT <= number.adjusted() < _MAX_EXPONENT:
        return None
    fixed = format(number, "f")
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
