"""The process's registry of secrets, and their removal from text before it leaves the process.

Startup registers every configured secret (exchange keys, the OpenRouter key, the API tokens,
the database password). Every way out redacts through the same registry: log lines
(:mod:`app.core.logging`), and the journal and the event stream, which store and serve text
that came from outside (an upstream error that repeats the key it was sent, a model's reply,
an exchange's error message). Besides the registered values, a few shapes are masked whatever
their value (bearer tokens, OpenRouter keys, signatures and keys in query strings).

The registry only grows: redacting a value that is no longer a secret costs nothing, while
forgetting one that still is would leak it.
"""

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final, NamedTuple, cast

REDACTED: Final = "***"

# Shorter values would redact ordinary words; no real key or token is this short.
_MIN_SECRET_LENGTH: Final = 6
# The redaction cache keeps short texts only (names, statuses, rule texts), and a bounded
# number of them: a model's long replies are seldom repeated word for word.
_CACHED_TEXT: Final = 256
_CACHED_TEXTS: Final = 20_000

_SECRET_SHAPES: Final = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"sk-or-[A-Za-z0-9-]{8,}"),
    re.compile(r"(?i)((?:signature|api[_-]?key|secret|token|password)=)[^&\s\"']+"),
    re.compile(r"(?i)(X-MBX-APIKEY[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9]+"),
)

# Every string a shape above can match contains one of these, in some letter case ("x-mbx-
# apikey" holds "apikey"): text without any of them skips the four substitutions (most
# journal strings: numbers, symbols, a model's prose).
_HINTS: Final = (
    "bearer",
    "sk-or-",
    "signature=",
    "api_key",
    "api-key",
    "apikey",
    "secret=",
    "token=",
    "password=",
)
# The same, in any case. In ASCII text, where no character has a case variant outside ASCII,
# it is found exactly when one of _HINTS is found in the lowercased text.
_SHAPE_HINT: Final = re.compile("(?i)" + "|".join(re.escape(hint) for hint in _HINTS))


class _Known(NamedTuple):
    """A redactor's secrets and what it learnt under exactly those secrets.

    Attributes:
        values: The secrets, longest first.
        done: Texts already redacted, with their redaction (journal rows repeat the same
            symbols, actions and rule texts cycle after cycle).
    """

    values: tuple[str, ...]
    done: dict[str, str]


class SecretRedactor:
    """Masks known secret values and secret-shaped substrings in text and JSON documents.

    Args:
        secrets: The values to mask; values shorter than six characters are ignored.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # The secrets, longest first, with what is known under exactly them (see _Known).
        # One attribute, replaced whole when a secret is added: a redaction reads it at once,
        # so no answer made without a secret is ever served once that secret is known.
        self._state = _Known((), {})
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too (from now on)."""
        values = set(self._state.values) | {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._state = _Known(tuple(sorted(values, key=len, reverse=True)), {})

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``***``."""
        if len(text) < _MIN_SECRET_LENGTH:
            return text  # shorter than any secret and any shape
        values, done = self._state
        found = done.get(text)
        if found is not None:
            return found
        redacted = _redact(text, values)
        if len(text) <= _CACHED_TEXT and len(done) < _CACHED_TEXTS:
            done[text] = redacted
        return redacted

    def redact_json[T](self, value: T) -> T:
        """``value`` with every string inside it (keys too) redacted; other values kept.

        Mappings become dicts, lists and tuples keep their type; the input is not changed.
        """
        return cast(T, self._walk(value))

    def _walk(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN:  # most of a document: nothing to look into (and no ABC check)
            return value
        if kind is str or isinstance(value, str):
            return self.redact(value)
        if kind is dict or isinstance(value, Mapping):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._walk(v) for v in value)
        return value


def _redact(text: str, values: tuple[str, ...]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    if not _may_hold_shape(text):
        return text
    for shape in _SECRET_SHAPES:
        text = shape.sub(_keep_prefix, text)
    return text


def _may_hold_shape(text: str) -> bool:
    """Whether ``_SHAPE_HINT`` is found in ``text``: the same answer, far sooner for ASCII text.

    The case-insensitive alternation scans a long text slowly (a 5 kB prompt: about 800 µs);
    lowercasing it and looking for each hint takes about 30 µs. Only ASCII text is answered
    so: elsewhere case-insensitive matching knows more variants than lowercasing (the Kelvin
    sign matches "k", the long s matches "s").
    """
    if str.isascii(text):
        lowered = str.lower(text)  # str's own, whatever a subclass of str does
        return any(hint in lowered for hint in _HINTS)
    return _SHAPE_HINT.search(text) is not None


def _keep_prefix(match: re.Match[str]) -> str:
    return (match.group(1) if match.groups() else "") + REDACTED


_PLAIN: Final = frozenset({type(None), bool, int, float, Decimal})
"""Types a document holds that can carry no text (checked exactly: a subclass is walked)."""

_REGISTRY: Final = SecretRedactor()


def registry() -> SecretRedactor:
    """The process-wide redactor that the log filter, the journal and the stream share."""
    return _REGISTRY


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secret values to the process-wide registry (never removed)."""
    _REGISTRY.add(secrets)


def redact(text: str) -> str:
    """``text`` with every registered secret and secret shape masked."""
    return _REGISTRY.redact(text)


def redact_optional(text: str | None) -> str | None:
    """:func:`redact`, passing None through."""
    return None if text is None else _REGISTRY.redact(text)


def redact_json[T](value: T) -> T:
    """A JSON-like value with every string in it masked (see :meth:`SecretRedactor.redact_json`)."""
    return _REGISTRY.redact_json(value)
