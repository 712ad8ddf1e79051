"""Logging: readable lines in development, JSON lines in production, secrets always redacted.

Redaction happens in a handler filter, after the message is rendered and after any exception
text is formatted, so a secret cannot slip out through ``%`` arguments, an exception message
or a traceback. Besides the configured secret values it masks a few shapes that are secrets
whatever their value (bearer tokens, OpenRouter keys, signatures in query strings).
"""

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, override

REDACTED: Final = "***"

# Shorter values would redact ordinary words; no real key or token is this short.
_MIN_SECRET_LENGTH: Final = 6

_SECRET_SHAPES: Final = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"sk-or-[A-Za-z0-9-]{8,}"),
    re.compile(r"(?i)((?:signature|api[_-]?key|secret|token|password)=)[^&\s\"']+"),
    re.compile(r"(?i)(X-MBX-APIKEY[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9]+"),
)

# Loggers of libraries the service runs; routed through our handler so they are redacted too.
_LIBRARY_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "httpx")


class SecretRedactor:
    """Masks known secret values and secret-shaped substrings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted(values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``***``."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for shape in _SECRET_SHAPES:
            text = shape.sub(_keep_prefix, text)
        return text


def _keep_prefix(match: re.Match[str]) -> str:
    return (match.group(1) if match.groups() else "") + REDACTED


class RedactingFilter(logging.Filter):
    """Renders each record's message and exception text, then redacts them in place."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._exception_formatter = logging.Formatter()

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra`` fields."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    @override
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_text:
            payload["exception"] = record.exc_text
        elif record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str, *, json_lines: bool, secrets: Iterable[str] = ()) -> None:
    """Install the service's single stderr handler on the root logger.

    Args:
        level: A standard level name (``DEBUG`` … ``CRITICAL``).
        json_lines: Emit JSON objects (production) instead of readable lines.
        secrets: Secret values to mask wherever they would appear.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(SecretRedactor(secrets)))
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    # Alembic announces its context on every schema read; the service logs upgrades itself.
    logging.getLogger("alembic.runtime.migration").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request URL at INFO; keep that for DEBUG runs only.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
