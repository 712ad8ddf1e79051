"""What a change over the API may do: exact names, sane values, limits within the env's.

Only :data:`LIVE_SAFE_VARIABLES` (and, in multi-account mode, their ``NAME_<ID>`` forms)
can change while the service runs. Names are matched exactly, case included: a misspelt
name is refused, never guessed. Values may not hold control characters, and a number must
be finite (``nan``, ``inf``, ``1e400``, which no float can hold, are refused).

The environment's risk limits (the ``.env`` file and the process environment) are
ceilings. A limit may be tightened over the API, and loosened again only as far as the
environment's value; loosening further takes an environment change, where a deployment
reviews it. Each limit names the direction that is looser: a higher ``LEVERAGE`` or
``MAX_*``, a lower ``MIN_STOP_ATR`` or churn guard, ``ALLOW_PYRAMIDING=true``, an unset
daily LLM budget. Limits are compared as each account gets them (per-account values over
the globals, the ``MAX_TOTAL_EXPOSURE_USD`` default of three positions), so a global
change cannot loosen an account whose environment gives it a tighter value of its own.
"""

import math
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Final

from app.config._accounts import ACCOUNT_VARIABLES, AccountSettings
from app.config._settings import Settings

LIVE_SAFE_VARIABLES: Final = frozenset(
    {
        "ASSETS",
        "LEVERAGE",
        "MAX_POSITION_SIZE_USD",
        "LLM_MODEL",
        "INTERVAL",
        "LONG_INTERVAL",
        "AGENT_PAUSED",
        "LLM_FALLBACK_MODELS",
        "LLM_DAILY_BUDGET_USD",
        "MAX_TOTAL_EXPOSURE_USD",
        "MAX_DAILY_LOSS_PCT",
        "MAX_LOSS_PER_TRADE_PCT",
        "MIN_STOP_ATR",
        "MAX_STOP_DISTANCE_PCT",
        "MIN_HOLD_BARS",
        "ALLOW_PYRAMIDING",
        "STOP_COOLDOWN_BARS",
        "ENTRY_ORDER_TYPE",
        "UNMANAGED_POSITION_POLICY",
        "LOG_LEVEL",
    }
)
"""Variables a running service may apply without a restart (per-account forms included)."""

_UNSET: Final = Decimal("Infinity")  # an unset cap limits nothing: the loosest value


class Looser(Enum):
    """Which way a limit gives the agent more room."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class Limit:
    """One risk limit: its variable, its looser direction, and how an account reads it."""

    variable: str
    looser: Looser
    read: Callable[[Settings, AccountSettings], Decimal | int | bool | None]

    def value(self, settings: Settings, account: AccountSettings) -> Decimal:
        """The limit as a number (``true`` is 1, an unset cap is infinite)."""
        raw = self.read(settings, account)
        return _UNSET if raw is None else Decimal(raw)

    def loosens(self, ceiling: Decimal, value: Decimal) -> bool:
        """True when ``value`` gives more room than ``ceiling``."""
        return value > ceiling if self.looser is Looser.HIGHER else value < ceiling


def _exposure(settings: Settings, account: AccountSettings) -> Decimal:
    return settings.max_total_exposure_usd or account.max_position_size_usd * 3


LIMITS: Final = (
    Limit("LEVERAGE", Looser.HIGHER, lambda s, a: a.leverage),
    Limit("MAX_POSITION_SIZE_USD", Looser.HIGHER, lambda s, a: a.max_position_size_usd),
    Limit("MAX_TOTAL_EXPOSURE_USD", Looser.HIGHER, _exposure),
    Limit("MAX_DAILY_LOSS_PCT", Looser.HIGHER, lambda s, a: s.max_daily_loss_pct),
    Limit("MAX_LOSS_PER_TRADE_PCT", Looser.HIGHER, lambda s, a: s.max_loss_per_trade_pct),
    Limit("MAX_STOP_DISTANCE_PCT", Looser.HIGHER, lambda s, a: s.max_stop_distance_pct),
    Limit("MIN_STOP_ATR", Looser.LOWER, lambda s, a: s.min_stop_atr),
    Limit("MIN_HOLD_BARS", Looser.LOWER, lambda s, a: s.min_hold_bars),
    Limit("STOP_COOLDOWN_BARS", Looser.LOWER, lambda s, a: s.stop_cooldown_bars),
    Limit("ALLOW_PYRAMIDING", Looser.HIGHER, lambda s, a: s.allow_pyramiding),
    Limit("LLM_DAILY_BUDGET_USD", Looser.HIGHER, lambda s, a: s.llm_daily_budget_usd),
)
"""Every limit a change over the API may not loosen past the environment's value."""


def live_safe_names(settings: Settings) -> frozenset[str]:
    """Every variable a change over the API may name, exactly as it must be spelt."""
    names = set(LIVE_SAFE_VARIABLES)
    if settings.multi_account_mode:
        per_account = LIVE_SAFE_VARIABLES & set(ACCOUNT_VARIABLES.values())
        names |= {f"{v}_{a.id}" for v in per_account for a in settings.accounts}
    return frozenset(names)


def name_problems(names: Collection[str], settings: Settings) -> list[str]:
    """One line per name a change over the API may not set (unknown, misspelt, restart-only)."""
    allowed = live_safe_names(settings)
    by_folded = {name.upper(): name for name in allowed}
    restart_only = {field.upper() for field in Settings.model_fields}
    per_account = {
        f"{v}_{a.id}".upper() for v in ACCOUNT_VARIABLES.values() for a in settings.accounts
    }
    if settings.multi_account_mode:
        restart_only |= per_account
    problems: list[str] = []
    for name in names:
        shown = _printable(name)
        if name in allowed:
            continue
        if name.upper() in by_folded:
            problems.append(
                f"{shown}: unknown variable; names are case-sensitive "
                f"(did you mean {by_folded[name.upper()]}?)"
            )
        elif name.upper() in restart_only:
            problems.append(
                f"{shown}: not changeable while running (restart with a new .env instead)"
            )
        elif name.upper() in per_account:
            problems.append(
                f"{shown}: unknown variable (per-account variables need MULTI_ACCOUNT_MODE=true)"
            )
        else:
            problems.append(f"{shown}: unknown variable")
    return problems


def value_problems(values: Mapping[str, str]) -> list[str]:
    """One line per value that no variable takes: control characters, non-finite numbers."""
    problems: list[str] = []
    for name, value in values.items():
        if any(unicodedata.category(char) == "Cc" for char in value):
            problems.append(f"{name}: contains control characters")
        elif not _finite(value):
            problems.append(f"{name}: {value.strip()[:40]!r} is not a finite number")
    return problems


def _finite(value: str) -> bool:
    """False for a number no float can hold (nan, inf, 1e400); True for anything else."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return True  # not a number at all: the variable's own check answers
    return number.is_finite() and math.isfinite(float(number))


def _printable(name: str) -> str:
    return name if name.isprintable() and len(name) <= 80 else repr(name[:80])


def loosened_limits(
    environment: Settings, candidate: Settings, overrides: Mapping[str, str]
) -> dict[str, str]:
    """Name each limit ``candidate`` sets looser than ``environment`` does.

    Args:
        environment: The configuration without any change made over the API (the ceilings).
        candidate: The configuration the agents would get.
        overrides: The variables set over the API that ``candidate`` was built with; a
            per-account one (``LEVERAGE_alice``) is named as such.

    Returns:
        Variable -> why it is refused (its ceiling); empty when nothing is looser.
    """
    ceilings = {account.id: account for account in environment.accounts}
    reasons: dict[str, str] = {}
    for account in candidate.accounts:
        before = ceilings.get(account.id)
        if before is None:
            continue  # an added account is a restart-only change, with no ceiling yet
        for limit in LIMITS:
            ceiling = limit.value(environment, before)
            value = limit.value(candidate, account)
            if not limit.loosens(ceiling, value) or _follows_position_size(
                limit, environment, candidate
            ):
                continue
            name = _variable(limit, account, overrides)
            reasons.setdefault(name, _reason(limit, ceiling, value))
    return reasons


def _follows_position_size(limit: Limit, environment: Settings, candidate: Settings) -> bool:
    # Unset in both, the exposure cap is three positions: MAX_POSITION_SIZE_USD answers for it.
    return (
        limit.variable == "MAX_TOTAL_EXPOSURE_USD"
        and environment.max_total_exposure_usd is None
        and candidate.max_total_exposure_usd is None
    )


def _variable(limit: Limit, account: AccountSettings, overrides: Mapping[str, str]) -> str:
    own = f"{limit.variable}_{account.id}"
    if limit.variable in ACCOUNT_VARIABLES.values() and own in overrides:
        return own
    return limit.variable


def _reason(limit: Limit, ceiling: Decimal, value: Decimal) -> str:
    bound = "at most" if limit.looser is Looser.HIGHER else "at least"
    return (
        f"{_show(limit, value)} is looser than the environment allows ({bound} "
        f"{_show(limit, ceiling)}, its value there); loosening further needs an environment "
        "change"
    )


def _show(limit: Limit, value: Decimal) -> str:
    if limit.variable == "ALLOW_PYRAMIDING":
        return "true" if value else "false"
    if value == _UNSET:
        return "unset (no cap)"
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)
