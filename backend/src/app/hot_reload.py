"""Hot reload: a changed ``.env`` reaches the running agents at their next cycle.

:class:`~app.config.SettingsWatcher` notices and validates the change (an invalid one is
rejected with one log line and the running configuration stays); :func:`apply_change` hands
the live-safe part to every account: assets, limits, model, intervals, entry type, the
unmanaged-position policy, the LLM budget and ``AGENT_PAUSED``. Everything else is reported
as needing a restart and left as it is.
"""

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack

from app.agents import AgentsRuntime
from app.config import ConfigChange, Settings, SettingsWatcher, default_env_file
from app.core.errors import ConfigError
from app.exchange.live import LiveExchange
from app.exchange.paper import PaperExchange
from app.wiring import AccountAgent, agent_config, resolve_symbols

logger = logging.getLogger(__name__)


async def apply_change(runtime: AgentsRuntime, change: ConfigChange) -> None:
    """Apply the live-safe part of ``change`` to every running account.

    An account whose new assets are unknown keeps its running configuration (logged); the
    others still change.
    """
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
            symbols = await resolve_symbols(shared, account)
        except ConfigError as exc:
            logger.error(
                "account %s: configuration change not applied, keeping the running one: %s",
                account.id,
                "; ".join(exc.problems),
            )
            continue
        _trade_symbols(agent, list(symbols.values()), runtime)
        agent.managed.loop.reconfigure(agent_config(settings, account, symbols))
        if agent.llm is not None:
            agent.llm.reconfigure(
                model=account.llm_model, fallback_models=settings.llm_fallback_models
            )
        if agent.guarded is not None:
            agent.guarded.daily_budget_usd = settings.llm_daily_budget_usd
        await runtime.supervisor.set_config_pause(account.id, account.agent_paused)
    await shared.journal.event(
        None,
        "config.reloaded",
        f"configuration reloaded: applied {', '.join(change.applied) or 'nothing'}"
        + (f"; needs a restart: {', '.join(change.needs_restart)}" if change.needs_restart else ""),
        severity="warning" if change.needs_restart else "info",
        payload={"applied": list(change.applied), "needs_restart": list(change.needs_restart)},
    )


def _trade_symbols(agent: AccountAgent, wanted: list[str], runtime: AgentsRuntime) -> None:
    if isinstance(agent.exchange, LiveExchange):
        agent.exchange.symbols = wanted
    elif isinstance(agent.exchange, PaperExchange):
        rules = runtime.shared.rule_filters
        agent.exchange.add_filters({s: rules[s] for s in wanted if s in rules})


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

    task = asyncio.create_task(watcher.run(on_change, stop, poll_s=poll_s), name="config-watch")

    async def stop_watching() -> None:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop_watching)
    logger.info("watching %s for configuration changes", default_env_file() or "the environment")
    return watcher
