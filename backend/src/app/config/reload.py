"""Hot reload: notice a changed ``.env`` file, validate it, and say which changes apply live.

:class:`SettingsWatcher` re-resolves the configuration when the env file changes (its
modification time or size) or when the resolved settings are older than ``CONFIG_CACHE_TTL``.
An invalid new configuration is rejected with one log line and the running one is kept.
:func:`diff_settings` splits a change into variables that are safe to apply to running agents
(:data:`LIVE_SAFE_VARIABLES`) and variables that only take effect after a restart.

Only variable names are reported and logged, never values: a changed secret cannot leak, and
the log redactor only knows the secrets of the configuration the service started with.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from app.config._accounts import ACCOUNT_VARIABLES
from app.config._changes import (
    LIVE_SAFE_VARIABLES,
    loosened_limits,
    name_problems,
    value_problems,
)
from app.config._loading import load_settings
from app.config._settings import Settings
from app.core.errors import ConfigError

logger = logging.getLogger(__name__)

Loader = Callable[[Path | None, Mapping[str, str]], Settings]
"""Resolves the whole configuration from an env file (or none), the process environment and
the overrides set over the API (which win)."""

# (modification time in ns, size) of the env file; None when there is no file.
_Stamp = tuple[int, int] | None
_NEVER_LOOKED: Final = (-1, -1)


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A valid new configuration and the variables that changed, by name only.

    Attributes:
        settings: The whole new configuration, restart-only values included. Callers apply
            only what :attr:`applied` names; the rest takes effect at the next restart.
        applied: Changed variables that are safe to apply live, e.g. ``LEVERAGE`` or, for one
            account in multi-account mode, ``LEVERAGE_alice``.
        needs_restart: Changed variables that take effect only after a restart, e.g.
            ``DATABASE_URL`` or ``ACCOUNT_IDS`` (which covers an added or removed account).
    """

    # Kept out of repr: a logged change must not carry values (a DATABASE_URL password).
    settings: Settings = field(repr=False)
    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """True when no variable changed."""
        return not self.applied and not self.needs_restart


def diff_settings(old: Settings, new: Settings) -> ConfigChange:
    """Name every variable whose value differs between two configurations.

    A per-account value that changed on its own is named like the configuration errors name
    it (``LEVERAGE_alice``); one that follows a changed global variable is named by that
    global variable. In single-account mode only global names appear.

    Args:
        old: The running configuration.
        new: The newly resolved configuration.

    Returns:
        The change; :attr:`ConfigChange.is_empty` when nothing differs.
    """
    # Changed name -> the global variable that decides whether it is safe to apply live.
    changed: dict[str, str] = {}
    for attr in Settings.model_fields:
        if getattr(old, attr) != getattr(new, attr):
            changed[attr.upper()] = attr.upper()
    changed.update(_account_changes(old, new))
    return ConfigChange(
        settings=new,
        applied=tuple(name for name, var in changed.items() if var in LIVE_SAFE_VARIABLES),
        needs_restart=tuple(
            name for name, var in changed.items() if var not in LIVE_SAFE_VARIABLES
        ),
    )


def _account_changes(old: Settings, new: Settings) -> dict[str, str]:
    names: dict[str, str] = {}
    if {a.id for a in old.accounts} != {a.id for a in new.accounts}:
        names["ACCOUNT_IDS"] = "ACCOUNT_IDS"
    per_account = old.multi_account_mode and new.multi_account_mode
    before = {account.id: account for account in old.accounts}
    for account in new.accounts:
        previous = before.get(account.id)
        if previous is None:
            continue
        for attr, variable in ACCOUNT_VARIABLES.items():
            was, now = getattr(previous, attr), getattr(account, attr)
            if was == now:
                continue
            # The account has no override of its own when it tracked the global both times.
            inherited = getattr(old, attr) == was and getattr(new, attr) == now
            name = f"{variable}_{account.id}" if per_account and not inherited else variable
            names[name] = variable
    return names


def _load_exactly(env_file: Path | None, overrides: Mapping[str, str]) -> Settings:
    """Read exactly ``env_file`` under the process environment, never a default file."""
    return load_settings(env_file, use_default_env_file=False, overrides=overrides)


Vet = Callable[[ConfigChange], Awaitable[None]]
"""Checks a change against the running agents before it is accepted (assets the market
source knows, ...); raises ConfigError with one ``VARIABLE: problem`` line per refusal."""


@dataclass(frozen=True, slots=True)
class _Proposal:
    """A resolved change that nothing has accepted yet."""

    change: ConfigChange
    environment: Settings
    overrides: dict[str, str]
    file_changed: bool = False


class SettingsWatcher:
    """Re-resolves the configuration when its env file changes or the cache expires.

    Pass the env file the running configuration was loaded from (e.g. the path
    :func:`~app.config.default_env_file` returned at startup), so both read the same file.
    The first :meth:`check` always re-resolves, so a change made between the startup load
    and the watcher's construction is not missed.

    A change is accepted whole or not at all: :attr:`current` and :attr:`overrides` only
    move once the change passed every check, the running agents' included (``vet``), so
    they always describe what is in force.
    """

    def __init__(
        self,
        current: Settings,
        env_file: Path | None,
        cache_ttl_s: float,
        *,
        loader: Loader = _load_exactly,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start watching.

        Args:
            current: The configuration the service is running with, resolved from the
                environment alone (its risk limits are the ceilings of changes over the API).
            env_file: The ``.env`` file to watch; None means only the process environment.
            cache_ttl_s: Re-resolve at least this often, in seconds, even when the file
                looks unchanged (``CONFIG_CACHE_TTL``).
            loader: Resolves the configuration; raises ConfigError when it is invalid.
            monotonic: Seconds from a monotonic clock (injected by tests).
        """
        self._current = current
        self._environment = current
        self._env_file = env_file
        self._cache_ttl_s = cache_ttl_s
        self._loader = loader
        self._monotonic = monotonic
        self._stamp: _Stamp = _NEVER_LOOKED
        self._resolved_at = monotonic()
        self._rejected: tuple[str, ...] = ()
        self._missing_reported = False
        self._overrides: dict[str, str] = {}
        # One change at a time, from check to applied: two PATCHes (or a PATCH and a file
        # reload) must not reach the agents in a different order than they were accepted.
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Settings:
        """The latest accepted configuration.

        Restart-only values in it may not be in effect yet (see :class:`ConfigChange`).
        """
        return self._current

    @property
    def environment(self) -> Settings:
        """The configuration from the environment alone: the ceilings of the risk limits."""
        return self._environment

    @property
    def overrides(self) -> dict[str, str]:
        """Variables set over the API; they win over the file until the service restarts."""
        return dict(self._overrides)

    def check(self) -> ConfigChange | None:
        """Re-resolve the configuration if the env file changed or the cache expired.

        Nothing but the configuration's own rules is checked: with running agents use
        :meth:`run`, which also asks them.

        Returns:
            The change, after which :attr:`current` is the new configuration; None when
            nothing was re-read, nothing changed, or the new configuration was rejected
            (logged as one ERROR line; :attr:`current` is kept).
        """
        proposal = self._propose_reload()
        if proposal is None:
            return None
        self._accept(proposal)
        return None if proposal.change.is_empty else proposal.change

    async def patch(
        self, values: Mapping[str, str], *, vet: Vet | None = None, apply: Vet | None = None
    ) -> ConfigChange:
        """Set variables over the API (``PATCH /api/v1/config``), validated like the file.

        The names must be live-safe and spelt exactly; the values must pass the
        environment's own checks, stay within its risk limits, and pass ``vet``. Only then
        are they kept and handed to ``apply``.

        Raises:
            ConfigError: One line per refused variable; nothing changes.
        """
        async with self._lock:
            proposal = self._propose_patch(values)
            change = proposal.change
            if vet is not None and not change.is_empty:
                await vet(change)
            self._accept(proposal)
            if apply is not None and not change.is_empty:
                await apply(change)
            return change

    async def run(
        self,
        on_change: Callable[[ConfigChange], Awaitable[None]],
        stop: asyncio.Event,
        *,
        poll_s: float = 2.0,
        vet: Vet | None = None,
    ) -> None:
        """Look for a changed file every ``poll_s`` seconds; hand each change to ``on_change``.

        A change ``vet`` refuses is rejected like an invalid file (one ERROR line, the
        running configuration kept). Returns when ``stop`` is set. A failing ``on_change``
        (or check) is logged and the loop goes on: one bad reload must not end hot reload
        for the rest of the run.
        """
        while not stop.is_set():
            async with self._lock:
                await self._poll(on_change, vet)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)

    async def _poll(
        self, on_change: Callable[[ConfigChange], Awaitable[None]], vet: Vet | None
    ) -> None:
        proposal: _Proposal | None = None
        try:
            proposal = self._propose_reload()
            if proposal is None:
                return
            if vet is not None and not proposal.change.is_empty:
                await vet(proposal.change)
        except ConfigError as exc:
            self._reject(exc.problems, repeat=proposal is not None and proposal.file_changed)
            return
        except Exception:
            logger.exception("configuration check failed; will try again")
            return
        self._accept(proposal)
        if proposal.change.is_empty:
            return
        try:
            await on_change(proposal.change)
        except Exception:
            logger.exception("applying the configuration change failed")

    def _propose_reload(self) -> _Proposal | None:
        stamp = self._file_stamp()
        now = self._monotonic()
        file_changed = stamp != self._stamp
        if not file_changed and now - self._resolved_at < self._cache_ttl_s:
            return None
        self._stamp, self._resolved_at = stamp, now
        if stamp is None and self._env_file is not None:
            # Reverting every variable to its default because the file vanished (or an
            # editor briefly removed it while saving) would be far worse than a restart.
            if not self._missing_reported:
                logger.warning(
                    "configuration file %s not found; keeping the running configuration",
                    self._env_file,
                )
                self._missing_reported = True
            return None
        self._missing_reported = False
        try:
            environment, new, overrides = self._resolve(self._overrides, refuse=())
        except ConfigError as exc:
            self._reject(exc.problems, repeat=file_changed)
            return None
        change = diff_settings(self._current, new)
        return _Proposal(change, environment, overrides, file_changed)

    def _propose_patch(self, values: Mapping[str, str]) -> _Proposal:
        if not values:
            raise ConfigError(["nothing to change"])
        problems = name_problems(values, self._current)
        if problems:
            raise ConfigError(problems)
        problems = value_problems(values)
        if problems:
            raise ConfigError(problems)
        environment, new, overrides = self._resolve({**self._overrides, **values}, refuse=values)
        return _Proposal(diff_settings(self._current, new), environment, overrides)

    def _resolve(
        self, overrides: Mapping[str, str], *, refuse: Collection[str]
    ) -> tuple[Settings, Settings, dict[str, str]]:
        """The environment alone, the configuration with ``overrides``, the overrides kept.

        A kept override that the environment no longer allows (its value there was
        tightened) is dropped: the environment wins. One named in ``refuse`` (the request
        being checked) is refused instead.

        Raises:
            ConfigError: A configuration is invalid, or a limit in ``refuse`` is too loose.
        """
        environment = self._loader(self._env_file, {})
        kept = dict(overrides)
        if not kept:
            return environment, environment, kept
        new = self._loader(self._env_file, kept)
        loose = loosened_limits(environment, new, kept)
        dropped = sorted(name for name in loose if name in kept and name not in refuse)
        if dropped:
            logger.warning(
                "the environment now allows less than set over the API; dropped: %s",
                ", ".join(dropped),
            )
            for name in dropped:
                del kept[name]
            new = self._loader(self._env_file, kept) if kept else environment
            loose = loosened_limits(environment, new, kept)
        if loose:
            raise ConfigError([f"{name}: {reason}" for name, reason in loose.items()])
        return environment, new, kept

    def _accept(self, proposal: _Proposal) -> None:
        self._environment = proposal.environment
        self._overrides = proposal.overrides
        self._rejected = ()
        if not proposal.change.is_empty:
            self._current = proposal.change.settings
            _log_change(proposal.change)

    def _file_stamp(self) -> _Stamp:
        if self._env_file is None:
            return None
        try:
            stat = self._env_file.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _reject(self, problems: tuple[str, ...], *, repeat: bool) -> None:
        # An edit always gets an answer; a cache expiry re-finding the same problems stays quiet.
        if repeat or problems != self._rejected:
            logger.error(
                "configuration change rejected, keeping the running configuration: %s",
                "; ".join(problems),
            )
        self._rejected = problems


def _log_change(change: ConfigChange) -> None:
    if change.applied:
        logger.info("configuration reloaded: applied %s", ", ".join(change.applied))
    if change.needs_restart:
        logger.warning("configuration change needs a restart: %s", ", ".join(change.needs_restart))
