"""What a backtest runs: its window, assets, provider and settings, validated up front.

A backtest takes the same settings as the service (``--set NAME=VALUE`` uses the environment
variable names and their validation) over a copy of the environment, pinned to one paper
account trading the requested assets. Everything wrong with a request is reported at once,
one line per problem, before any candle is read.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.config import ACCOUNT_VARIABLES, AccountSettings, Settings, load_settings
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS


class ProviderKind(StrEnum):
    """Who decides in a backtest."""

    RULES = "rules"
    LLM = "llm"


class CachePolicy(StrEnum):
    """How a backtest uses the LLM reply cache.

    ``use``: answer from the cache when the exact request was made before, else call and
    keep the reply; ``only``: never call (a miss holds that cycle); ``refresh``: always call
    and replace what the cache held.
    """

    USE = "use"
    ONLY = "only"
    REFRESH = "refresh"


# Variables a backtest sets itself: ``--set`` cannot move them.
_PINNED = frozenset(
    {"MULTI_ACCOUNT_MODE", "ACCOUNT_IDS", "TRADING_MODE", "AGENT_PAUSED", "AGENTS_ENABLED"}
)


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """A backtest request.

    Attributes:
        start: First decision time (tz-aware UTC); the data must hold the indicators'
            warm-up before it.
        end: No decision after this time.
        assets: Assets to trade (``BTC`` or ``BTCUSDT``).
        interval: Decision interval (``INTERVAL``).
        long_interval: Higher-timeframe context (``LONG_INTERVAL``).
        provider: Rules or the LLM.
        model: The LLM model (``LLM_MODEL``); None keeps the configured one.
        settings: ``NAME=VALUE`` overrides (risk settings and the like).
        balance: Starting balance in USDT.
        data_dir: CSV candles in the bundled format; None reads the database's candles.
        cache: Reply-cache policy (LLM runs).
        max_cost_usd: Stop the run cleanly once the LLM spend reaches this; None: no cap.
        title: A name for the report.
    """

    start: datetime
    end: datetime
    assets: tuple[str, ...]
    interval: str = "1h"
    long_interval: str = "4h"
    provider: ProviderKind = ProviderKind.RULES
    model: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    balance: Decimal = Decimal(10_000)
    data_dir: Path | None = None
    cache: CachePolicy = CachePolicy.USE
    max_cost_usd: Decimal | None = None
    title: str | None = None

    def describe(self) -> dict[str, object]:
        """The request as JSON-safe values (stored with the run and in its report)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "assets": list(self.assets),
            "interval": self.interval,
            "long_interval": self.long_interval,
            "provider": self.provider.value,
            "model": self.model,
            "settings": dict(self.settings),
            "balance": str(self.balance),
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "cache": self.cache.value,
            "max_cost_usd": str(self.max_cost_usd) if self.max_cost_usd is not None else None,
        }


def spec_of_description(described: Mapping[str, Any]) -> BacktestSpec:
    """The request a stored run describes (:meth:`BacktestSpec.describe`), to run it again.

    Raises:
        ConfigError: The description is not one this version wrote.
    """
    try:
        cost = described.get("max_cost_usd")
        data_dir = described.get("data_dir")
        return BacktestSpec(
            start=datetime.fromisoformat(described["start"]),
            end=datetime.fromisoformat(described["end"]),
            assets=tuple(described["assets"]),
            interval=described["interval"],
            long_interval=described["long_interval"],
            provider=ProviderKind(described["provider"]),
            model=described.get("model"),
            settings={str(k): str(v) for k, v in (described.get("settings") or {}).items()},
            balance=Decimal(described["balance"]),
            data_dir=Path(data_dir) if data_dir else None,
            cache=CachePolicy(described.get("cache", CachePolicy.USE.value)),
            max_cost_usd=Decimal(cost) if cost is not None else None,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError([f"the stored run's configuration cannot be read ({exc!r})"]) from exc


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` as a mapping (names upper-cased).

    Raises:
        ConfigError: A pair without ``=`` or with an empty name.
    """
    values: dict[str, str] = {}
    problems: list[str] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            problems.append(f"--set {pair!r}: expected NAME=VALUE")
            continue
        values[name.strip().upper()] = value.strip()
    if problems:
        raise ConfigError(problems)
    return values


def known_setting_names() -> frozenset[str]:
    """Every variable ``--set`` accepts: the service's settings, minus the pinned ones."""
    names = {name.upper() for name in Settings.model_fields}
    names.update(ACCOUNT_VARIABLES.values())
    return frozenset(names - _PINNED)


def resolve(spec: BacktestSpec) -> tuple[Settings, AccountSettings]:
    """The settings and the single paper account ``spec`` runs with.

    Raises:
        ConfigError: One line per problem: window, intervals, unknown or invalid settings,
            an LLM run without an OpenRouter key.
    """
    problems = _window_problems(spec)
    known = known_setting_names()
    for name in spec.settings:
        if name in _PINNED:
            problems.append(f"--set {name}: a backtest sets {name} itself")
        elif name not in known:
            problems.append(f"--set {name}: not a setting (see .env.example)")
    if problems:
        raise ConfigError(problems)
    overrides = {
        **spec.settings,
        "ASSETS": ",".join(spec.assets),
        "INTERVAL": spec.interval,
        "LONG_INTERVAL": spec.long_interval,
        "MULTI_ACCOUNT_MODE": "false",
        "TRADING_MODE": "paper",
        "AGENT_PAUSED": "false",
        "PAPER_BALANCE_USD": str(spec.balance),
    }
    if spec.model is not None:
        overrides["LLM_MODEL"] = spec.model
    settings = load_settings(overrides=overrides)
    account = settings.accounts[0]
    if spec.provider is ProviderKind.RULES:
        account = account.model_copy(update={"openrouter_api_key": None})
    elif account.openrouter_api_key is None:
        raise ConfigError(["OPENROUTER_API_KEY: --provider llm needs an OpenRouter API key"])
    return settings, account


def _window_problems(spec: BacktestSpec) -> list[str]:
    problems: list[str] = []
    for name, when in (("--from", spec.start), ("--to", spec.end)):
        if when.tzinfo is None:
            problems.append(f"{name}: give a time zone (e.g. 2025-12-01T00:00Z)")
    if not problems and spec.start >= spec.end:
        problems.append(
            f"--from {spec.start.isoformat()} is not before --to {spec.end.isoformat()}"
        )
    for name, interval in (("--interval", spec.interval), ("--long-interval", spec.long_interval)):
        if interval not in KLINE_INTERVALS_MS:
            problems.append(f"{name}: unknown interval {interval!r}")
    if not spec.assets:
        problems.append("--assets: name at least one asset")
    if spec.balance <= 0:
        problems.append("--balance: must be positive")
    if spec.max_cost_usd is not None and spec.max_cost_usd < 0:
        problems.append("--max-cost-usd: must not be negative")
    return problems
