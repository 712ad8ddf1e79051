"""Configuration: see :mod:`app.config._settings` for the variables and their rules."""

from app.config._accounts import ACCOUNT_VARIABLES, AccountSettings
from app.config._settings import (
    DEFAULT_SQLITE_URL,
    AgentSettings,
    ApiSettings,
    DatabaseSettings,
    ExchangeSettings,
    LlmSettings,
    MarketDataSettings,
    Settings,
    load_settings,
)

__all__ = [
    "ACCOUNT_VARIABLES",
    "DEFAULT_SQLITE_URL",
    "AccountSettings",
    "AgentSettings",
    "ApiSettings",
    "DatabaseSettings",
    "ExchangeSettings",
    "LlmSettings",
    "MarketDataSettings",
    "Settings",
    "load_settings",
]
