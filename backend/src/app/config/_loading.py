"""Loading the configuration: the environment and ``.env`` file, then the global checks.

:func:`load_settings` turns every problem into one line naming the variable and what it
allows, collected into a single :class:`~app.core.errors.ConfigError`. The model itself
(:class:`~app.config._settings.Settings` and its groups) lives in :mod:`app.config._settings`.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError

from app.config._accounts import resolve_accounts
from app.config._settings import Settings
from app.config._values import format_errors
from app.core.errors import ConfigError
from app.core.types import Environment

_MIN_TOKEN_LENGTH: Final = 32
"""Shortest ``API_TOKEN`` / ``API_READ_TOKEN`` accepted outside development."""
# Values that show a secret was copied from an example and never set.
_PLACEHOLDER_SECRETS: Final = frozenset({"changeme", "change-me", "secret", "your-key-here"})


def read_environment(env_file: Path | None) -> dict[str, str]:
    """Merge ``env_file`` (if it exists) under the process environment, keys upper-cased."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        for key, value in dotenv_values(env_file).items():
            if value is not None:
                merged[key.upper()] = value
    for key, value in os.environ.items():
        merged[key.upper()] = value
    return merged


def default_env_file() -> Path | None:
    """``ENV_FILE`` if set, else ``.env`` in the working directory or its parent (repo root)."""
    if explicit := os.environ.get("ENV_FILE"):
        return Path(explicit)
    for candidate in (Path(".env"), Path("..") / ".env"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    env_file: Path | None = None,
    *,
    use_default_env_file: bool = True,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Read, validate and resolve the whole configuration.

    Args:
        env_file: A ``.env`` file to read under the process environment.
        use_default_env_file: When ``env_file`` is None, look for one with
            :func:`default_env_file`.
        overrides: Variables (``NAME`` or per-account ``NAME_<ID>``) that win over both,
            validated the same way (``PATCH /api/v1/config``).

    Raises:
        ConfigError: One line per bad variable.
    """
    if env_file is None and use_default_env_file:
        env_file = default_env_file()
    wins = {name.upper(): value for name, value in (overrides or {}).items()}
    given: dict[str, Any] = {
        f: wins[_env_name(f)] for f in Settings.model_fields if _env_name(f) in wins
    }
    try:
        settings = Settings(_env_file=env_file, **given)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, _env_name)) from None
    accounts, problems = resolve_accounts(settings, read_environment(env_file) | wins)
    problems.extend(_global_problems(settings))
    if problems:
        raise ConfigError(problems)
    settings._accounts = accounts
    return settings


def _env_name(field: str) -> str:
    return field.upper()


def _token_problems(settings: Settings) -> list[str]:
    """Outside development a short or shared token is refused (values never shown)."""
    problems: list[str] = []
    full, read = settings.api_token, settings.api_read_token
    for name, token in (("API_TOKEN", full), ("API_READ_TOKEN", read)):
        value = token.get_secret_value() if token is not None else ""
        # A production placeholder already has its line: one line per variable.
        placeholder = (
            settings.environment is Environment.PRODUCTION and value.lower() in _PLACEHOLDER_SECRETS
        )
        if token is not None and not placeholder and len(value) < _MIN_TOKEN_LENGTH:
            problems.append(
                f"{name}: must be at least {_MIN_TOKEN_LENGTH} characters outside "
                f"development (ENVIRONMENT={settings.environment.value}); "
                "use a long random string"
            )
    shared = (
        full is not None and read is not None and full.get_secret_value() == read.get_secret_value()
    )
    if shared and not problems:
        problems.append(
            "API_READ_TOKEN: must differ from API_TOKEN, or a read-only client could change "
            "everything"
        )
    return problems


def _global_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.environment is Environment.PRODUCTION:
        if settings.api_token is None:
            problems.append(
                "API_TOKEN: required when ENVIRONMENT=production "
                "(a long random string; clients send it as 'Authorization: Bearer <token>')"
            )
        for name in ("api_token", "api_read_token", "asterdex_api_secret", "openrouter_api_key"):
            value: SecretStr | None = getattr(settings, name)
            if value is not None and value.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                problems.append(f"{name.upper()}: is a placeholder; set the real value")
    if settings.environment is not Environment.DEVELOPMENT:
        problems.extend(_token_problems(settings))
    if settings.multi_account_mode and not settings.account_ids:
        problems.append(
            "ACCOUNT_IDS: required when MULTI_ACCOUNT_MODE=true (comma-separated ids, e.g. 'a,b')"
        )
    return problems
