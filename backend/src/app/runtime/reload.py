"""Hot reload: a changed ``.env`` reaches the running agents at their next cycle.

:class:`~app.config.SettingsWatcher` notices and validates the change (an invalid one is
rejected with one log line and the running configuration stays); :func:`apply_change` hands
the live-safe part to every account: assets, limits, model, intervals, entry type, the
unmanaged-position policy, the LLM budget and ``AGENT_PAUSED``. Everything else is reported
as needing a restart and left as it is.

A change from the file or from ``PATCH /api/v1/config`` (:func:`patch_config`) is first
checked the way the agents would take it (:func:`vet_change`: assets the market source and
the exchange filters know). A refused change is refused whole, before anything keeps it, so
``GET /api/v1/config`` always shows the configuration in force.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from contextlib import AsyncExitStack

from app.agent.loop import AgentLoop
from app.config import (
    ConfigChange,
    Settings,
    SettingsWatcher,
    default_env_file,
)
from app.core.errors import ConfigError, DatabaseError
from app.core.types import AccountId
from app.exchange.errors import ExchangeError
from app.market_data.symbols import UnknownAssetError
from app.runtime.agents import AgentsRuntime
from app.runtime.builder import Shared, agent_config, asset_variable

logger = logging.getLogger(__name__)


async def patch_config(
    watcher: SettingsWatcher, runtime: AgentsRuntime, values: Mapping[str, str]
) -> ConfigChange:
    """Change variables over the API: checked whole, kept and applied, or refused whole.

    Raises:
        ConfigError: One ``VARIABLE: problem`` line per refusal; nothing was kept or applied.
    """

    async def vet(change: ConfigChange) -> None:
        await vet_change(runtime, change)

    async def apply(change: ConfigChange) -> None:
        await apply_change(runtime, change)

    return await watcher.patch(values, vet=vet, apply=apply)


async def vet_change(runtime: AgentsRuntime, change: ConfigChange) -> None:
    """Check ``change`` the way the running agents would take it, before anyone keeps it.

    Every running account may trade only symbols the market source lists and the exchange
    has filters for (orders are rounded with them).

    Raises:
        ConfigError: One ``VARIABLE: problem`` line per refused account; nothing changed.
    """
    settings = change.settings
    running = _running(runtime)
    problems: list[str] = []
    for account in settings.accounts:
        if account.id not in running:
            continue  # not running: it takes the configuration at its restart
        name = asset_variable(settings, account)
        try:
            symbols = await runtime.shared.market.resolve_assets(account.assets)
        except UnknownAssetError as exc:
            problems.append(f"{name}: account '{account.id}': {exc}")
            continue
        rules = runtime.shared.rule_filters
        unruled = [asset for asset, symbol in symbols.items() if symbol not in rules]
        if unruled:
            problems.append(
                f"{name}: account '{account.id}': no exchange filters (tick and lot sizes) "
                f"for {', '.join(unruled)}, so its orders could not be rounded"
            )
    if problems:
        raise ConfigError(problems)


async def apply_change(runtime: AgentsRuntime, change: ConfigChange) -> None:
    """Apply the live-safe part of a vetted ``change`` to every running account (next cycle)."""
    settings = change.settings
    if "LOG_LEVEL" in change.applied:
        logging.getLogger().setLevel(settings.log_level)
    shared = runtime.shared
    shared.market.keep_intervals(settings.market_data.intervals)
    for account in settings.accounts:
        agent = runtime.accounts.get(account.id)
        if agent is None or agent.managed.loop is None:
            continue  # a new account, or one that cannot run: both need a restart
        try:
            symbols = await shared.market.resolve_assets(account.assets)
        except UnknownAssetError as exc:
            # Vetted a moment ago: only a symbol delisted since then lands here.
            logger.error(
                "account %s: configuration change not applied, keeping the running one: %s",
                account.id,
                exc,
            )
            continue
        agent.trade_symbols(list(symbols.values()))
        agent.managed.loop.reconfigure(agent_config(settings, account, symbols))
        if agent.llm is not None:
            agent.llm.reconfigure(
                model=account.llm_model, fallback_models=settings.llm_fallback_models
            )
        if agent.guarded is not None:
            agent.guarded.daily_budget_usd = settings.llm_daily_budget_usd
        await runtime.supervisor.set_config_pause(account.id, account.agent_paused)
        await _warm_up(shared, account.id, symbols.values())
    await _record(shared, change)


async def _warm_up(shared: Shared, account: AccountId, symbols: Iterable[str]) -> None:
    """Load the candles the new configuration needs; the cycle loads what is still missing."""
    for symbol in symbols:
        try:
            await shared.market.backfill(symbol)
        except (ExchangeError, DatabaseError) as exc:
            logger.warning("account %s: %s candles not loaded yet: %s", account, symbol, exc)


async def _record(shared: Shared, change: ConfigChange) -> None:
    try:
        await shared.journal.event(
            None,
            "config.reloaded",
            at=shared.clock.now(),
            message=f"configuration reloaded: applied {', '.join(change.applied) or 'nothing'}"
            + (
                f"; needs a restart: {', '.join(change.needs_restart)}"
                if change.needs_restart
                else ""
            ),
            severity="warning" if change.needs_restart else "info",
            payload={"applied": list(change.applied), "needs_restart": list(change.needs_restart)},
        )
    except DatabaseError as exc:
        # The change is in force; only its journal line is lost.
        logger.warning("configuration change not journaled: %s", exc)


def _running(runtime: AgentsRuntime) -> dict[AccountId, AgentLoop]:
    return {
        account: agent.managed.loop
        for account, agent in runtime.accounts.items()
        if agent.managed.loop is not None
    }


async def start_watching(
    settings: Settings,
    runtime: AgentsRuntime,
    stack: AsyncExitStack,
    *,
    poll: bool = True,
    poll_s: float = 2.0,
) -> SettingsWatcher:
    """The settings watcher of the running agents.

    With ``poll`` (``CONFIG_WATCH_ENABLED``) it watches the env file until ``stack``
    closes; without, it still serves ``PATCH /api/v1/config``.
    """
    watcher = SettingsWatcher(settings, default_env_file(), settings.config_cache_ttl)
    if not poll:
        return watcher
    stop = asyncio.Event()

    async def on_change(change: ConfigChange) -> None:
        await apply_change(runtime, change)

    async def vet(change: ConfigChange) -> None:
        await vet_change(runtime, change)

    task = asyncio.create_task(
        watcher.run(on_change, stop, poll_s=poll_s, vet=vet), name="config-watch"
    )

    async def stop_watching() -> None:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop_watching)
    logger.info("watching %s for configuration changes", default_env_file() or "the environment")
    return watcher
