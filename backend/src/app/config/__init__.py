"""Configuration: see :mod:`app.config._settings` for the variables and their rules.

:mod:`app.config._loading` reads them from the environment (:func:`load_settings`).
"""

from app.config._accounts import ACCOUNT_VARIABLES, AccountSettings
from app.config._changes import LIMITS, LIVE_SAFE_VARIABLES, Limit, Looser
from app.config._loading import default_env_file, load_settings
from app.config._settings import (
    DEFAULT_SQLITE_URL,
    AgentSettings,
    ApiSettings,
    DatabaseSettings,
    ExchangeSettings,
    LlmSettings,
    MarketDataSettings,
    Settings,
)
from app.config.reload import ConfigChange, SettingsWatcher, diff_settings
from app.core.types import EntryOrderType, UnmanagedPositionPolicy

__all__ = [
    "ACCOUNT_VARIABLES",
    "DEFAULT_SQLITE_URL",
    "LIMITS",
    "LIVE_SAFE_VARIABLES",
    "AccountSettings",
    "AgentSettings",
    "ApiSettings",
    "ConfigChange",
    "DatabaseSettings",
    "EntryOrderType",
    "ExchangeSettings",
    "Limit",
    "LlmSettings",
    "Looser",
    "MarketDataSettings",
    "Settings",
    "SettingsWatcher",
    "UnmanagedPositionPolicy",
    "default_env_file",
    "diff_settings",
    "load_settings",
]
