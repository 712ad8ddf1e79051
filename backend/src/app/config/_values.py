"""Value types and validators shared by the global and the per-account settings."""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, SecretStr, ValidationError
from pydantic_settings import NoDecode
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.types import KLINE_INTERVALS_MS, EntryOrderType, UnmanagedPositionPolicy

MAX_LEVERAGE: Final = Decimal(125)
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# OpenRouter ids look like "x-ai/grok-4" or "anthropic/claude-3.5-sonnet:beta"; anything
# else (spaces, quotes, control characters) would only reach the provider's API as junk.
_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9~][A-Za-z0-9._:/@+~-]{0,127}")
# Fields whose values must never be echoed back in an error message.
_SECRET_FIELDS: Final = ("key", "secret", "token", "private")


def split_csv(value: object) -> object:
    """Split ``"a, b,,c"`` into ``["a", "b", "c"]``; leave lists and other types to pydantic."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _empty_as_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _check_assets(assets: list[str]) -> list[str]:
    if not assets:
        raise ValueError("must name at least one asset, e.g. 'BTC,ETH,SOL'")
    cleaned: list[str] = []
    for asset in assets:
        symbol = asset.strip().upper()
        if not symbol.isalnum() or len(symbol) > 20:
            raise ValueError(f"'{asset}' is not an asset name (letters and digits, e.g. BTC)")
        if symbol not in cleaned:
            cleaned.append(symbol)
    return cleaned


def _check_interval(value: str) -> str:
    if value not in KLINE_INTERVALS_MS:
        allowed = " ".join(KLINE_INTERVALS_MS)
        raise ValueError(f"'{value}' is not an AsterDEX kline interval (one of: {allowed})")
    return value


def _check_leverage(value: Decimal) -> Decimal:
    if not Decimal(1) <= value <= MAX_LEVERAGE:
        raise ValueError(f"must be between 1 and {MAX_LEVERAGE} (got '{value}')")
    return value


def _check_positive(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"must be a positive number of USD (got '{value}')")
    return value


def _check_optional_positive(value: Decimal | None) -> Decimal | None:
    return None if value is None else _check_positive(value)


def _check_model_name(value: str) -> str:
    if not _MODEL_NAME.fullmatch(value):
        raise ValueError(
            f"{value[:60]!r} is not a model id (up to 128 letters, digits and . _ : / @ + ~ -, "
            "e.g. 'x-ai/grok-4')"
        )
    return value


def _check_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"'{value}' is not a log level (one of: {', '.join(_LOG_LEVELS)})")
    return level


AssetList = Annotated[
    list[str], NoDecode, BeforeValidator(split_csv), AfterValidator(_check_assets)
]
"""Comma-separated asset names (``BTC,ETH,SOL``), upper-cased and de-duplicated."""

Interval = Annotated[str, AfterValidator(_check_interval)]
"""An AsterDEX kline interval such as ``1h``."""

Leverage = Annotated[Decimal, AfterValidator(_check_leverage)]
"""Leverage between 1 and 125."""

PositiveUsd = Annotated[Decimal, AfterValidator(_check_positive)]
"""A strictly positive USD amount."""

ModelName = Annotated[str, AfterValidator(_check_model_name)]
"""An OpenRouter model id such as ``x-ai/grok-4``."""

LogLevel = Annotated[str, AfterValidator(_check_log_level)]
"""A standard logging level name."""

PositionPolicy = Annotated[UnmanagedPositionPolicy, BeforeValidator(_lower)]
"""``adopt`` or ``flatten``, any case."""

OrderType = Annotated[EntryOrderType, BeforeValidator(_upper)]
"""``MARKET`` or ``LIMIT``, any case."""

OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_as_none)]
"""A secret; ``KEY=`` (empty, as in .env.example) means unset."""

OptionalText = Annotated[str | None, BeforeValidator(_empty_as_none)]
"""An optional value; empty means unset."""

OptionalPositiveUsd = Annotated[
    Decimal | None, BeforeValidator(_empty_as_none), AfterValidator(_check_optional_positive)
]
"""An optional strictly positive USD amount; empty means unset."""


def normalise_database_url(value: str) -> str:
    """Map ``postgresql://``/``postgres://`` to asyncpg and ``sqlite://`` to aiosqlite.

    Raises:
        ValueError: The URL cannot be parsed or names an unsupported database.
    """
    try:
        url = make_url(value.strip())
    except (ArgumentError, ValueError):
        raise ValueError(
            "is not a database URL (expected postgresql://user@host:5432/db or sqlite:///path)"
        ) from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if not url.host and not url.query.get("host"):
            raise ValueError("a PostgreSQL URL needs a host, e.g. postgresql://user@host:5432/db")
        if not url.database:
            raise ValueError("a PostgreSQL URL needs a database name after the host")
        url = url.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite":
        if not url.database:
            raise ValueError("a SQLite URL needs a file path, e.g. sqlite:///./data/agent.db")
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(f"unsupported database '{backend}' (use postgresql:// or sqlite:///)")
    return url.render_as_string(hide_password=False)


def format_errors(exc: ValidationError, env_name: Callable[[str], str]) -> list[str]:
    """Turn a pydantic ValidationError into one ``VARIABLE: problem`` line per variable.

    Args:
        exc: The validation error.
        env_name: Maps a field name to the environment variable the user set.
    """
    lines: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = env_name(field)
        message = str(error["msg"]).removeprefix("Value error, ")
        if any(marker in field for marker in _SECRET_FIELDS):
            message = message.split(" (got ")[0]
        lines.setdefault(name, f"{name}: {message}")
    return list(lines.values())
