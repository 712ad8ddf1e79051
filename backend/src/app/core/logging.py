"""Logging: readable lines in development, JSON lines in production, secrets always redacted.

Redaction happens in a handler filter, after the message is rendered and after any exception
text is formatted, so a secret cannot slip out through ``%`` arguments, an exception message
or a traceback. The filter uses the process's secret registry (:mod:`app.core.secrets`), the
same one the journal and the event stream redact with.
"""

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, override

from app.core.secrets import REDACTED, SecretRedactor, register_secrets, registry

# Loggers of libraries the service runs; routed through our handler so they are redacted too.
_LIBRARY_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "httpx")

__all__ = ["REDACTED", "JsonFormatter", "RedactingFilter", "SecretRedactor", "configure_logging"]


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
        secrets: Secret values to mask wherever they would appear (added to the process's
            secret registry, so the journal and the stream mask them too).
    """
    register_secrets(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(registry()))
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
