"""One account's agent, built: its exchange (live or paper), decision provider and loop.

:func:`build_account` builds it from the settings and the parts every account shares
(:class:`Shared`); :func:`agent_config` turns settings into the loop's configuration, at
startup and again on every hot reload. This is the one module that knows the concrete
exchanges: what callers need of them is recorded on the :class:`AccountRuntime`.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from app.agent.loop import AgentConfig, AgentLoop
from app.agent.ports import Journal
from app.agent.supervisor import ManagedAgent
from app.config import AccountSettings, Settings
from app.core.clock import Clock
from app.core.errors import ConfigError
from app.core.types import TradingMode, UnmanagedPositionPolicy
from app.db.session import SessionFactory
from app.exchange.defaults import OFFLINE_FILTERS
from app.exchange.errors import ExchangeError
from app.exchange.filters import SymbolFilters
from app.exchange.http.factory import client_for
from app.exchange.http.streams import UserDataStream
from app.exchange.live import LiveExchange
from app.exchange.paper import PaperExchange
from app.exchange.ports import Exchange
from app.exchange.types import OrderType
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.guard import GuardedDecisionProvider, SpendLedger
from app.llm.http import Completions, OpenRouterClient
from app.llm.ports import DecisionProvider
from app.llm.provider import LlmDecisionProvider
from app.llm.repository import DatabaseSpendLedger
from app.llm.rules import RulesDecisionProvider
from app.market_data.service import MarketDataService
from app.market_data.symbols import UnknownAssetError
from app.trading.domain import RiskLimits

logger = logging.getLogger(__name__)


class Closeable(Protocol):
    """Something the runtime closes at shutdown (HTTP clients, the live streams)."""

    async def aclose(self) -> None:
        """Release it."""
        ...


@dataclass
class Shared:
    """What every account of a run shares: settings, market data, journal, clock, clients.

    Attributes:
        settings: The run's settings.
        market: The market data service every loop reads.
        journal: Where every account's records go.
        clock: The run's clock (wall clock, or a replay's).
        sessions: Database sessions (the LLM spend ledger); None for a run in memory.
        filters: AsterDEX's symbol filters; None on a replay (live accounts then wait).
        until: When the run ends (a replay's recording), or None.
        clients: HTTP clients and streams the run opened, in closing order.
        spend: The LLM spend ledger; None: the calls persisted in ``sessions``.
        completions: Wraps each account's OpenRouter client (a backtest's reply cache);
            None: the client as is.
        decide: Decides instead of the account's LLM and rules (a decision replay answers
            with the recorded decisions); None: the account's own provider.
    """

    settings: Settings
    market: MarketDataService
    journal: Journal
    clock: Clock
    sessions: SessionFactory | None
    filters: dict[str, SymbolFilters] | None
    until: datetime | None = None
    clients: list[Closeable] = field(default_factory=list)
    spend: SpendLedger | None = None
    completions: Callable[[Completions], Completions] | None = None
    decide: DecisionProvider | None = None

    def spend_ledger(self) -> SpendLedger:
        """Where the LLM budget reads the day's spend."""
        if self.spend is not None:
            return self.spend
        if self.sessions is None:
            raise ValueError("a run without a database needs its own spend ledger")
        return DatabaseSpendLedger(self.sessions)

    @property
    def rule_filters(self) -> Mapping[str, SymbolFilters]:
        """Exchange filters: live ``exchangeInfo``, or the offline defaults on a replay."""
        return self.filters or OFFLINE_FILTERS


def _keep_symbols(symbols: Sequence[str]) -> None:
    """An account that does not run trades nothing: a new symbol list changes nothing."""


@dataclass
class AccountRuntime:
    """One account's running parts, kept so hot reload and the API can reach them.

    Attributes:
        managed: The account under supervision (its mode, and its loop when it runs).
        exchange: Its exchange port (None when it cannot run).
        guarded: Its decision provider with the budget guard.
        llm: Its LLM provider (None without an OpenRouter key).
        trade_symbols: Lets the exchange trade these symbols from now on (hot reload):
            a live account's fills are polled for them, a paper account gets their filters.
    """

    managed: ManagedAgent
    exchange: Exchange | None = None
    guarded: GuardedDecisionProvider | None = None
    llm: LlmDecisionProvider | None = None
    trade_symbols: Callable[[Sequence[str]], None] = _keep_symbols

    @property
    def live(self) -> bool:
        """Whether the account trades real money (its exchange answers over the network)."""
        return self.managed.mode is TradingMode.LIVE


def risk_limits(settings: Settings, account: AccountSettings) -> RiskLimits:
    """The risk engine's limits for ``account`` (per-account values over the globals)."""
    total = settings.max_total_exposure_usd or account.max_position_size_usd * 3
    return RiskLimits(
        max_position_usd=account.max_position_size_usd,
        max_leverage=account.leverage,
        max_total_exposure_usd=total,
        max_daily_loss=settings.max_daily_loss_pct / 100,
        max_loss_per_trade=settings.max_loss_per_trade_pct / 100,
        min_stop_atr=settings.min_stop_atr,
        max_stop_distance=settings.max_stop_distance_pct / 100,
        min_hold_bars=settings.min_hold_bars,
        allow_pyramiding=settings.allow_pyramiding,
        stop_cooldown_bars=settings.stop_cooldown_bars,
    )


def agent_config(
    settings: Settings, account: AccountSettings, symbols: Mapping[str, str]
) -> AgentConfig:
    """The loop configuration of ``account`` under ``settings``."""
    flatten = settings.unmanaged_position_policy is UnmanagedPositionPolicy.FLATTEN
    return AgentConfig(
        account_id=account.id,
        symbols=dict(symbols),
        interval=settings.interval,
        long_interval=settings.long_interval,
        limits=risk_limits(settings, account),
        entry_type=OrderType(settings.entry_order_type.value),
        unmanaged_policy="flatten" if flatten else "adopt",
    )


def asset_variable(settings: Settings, account: AccountSettings) -> str:
    """The variable that set ``account``'s assets: ``ASSETS``, or its own ``ASSETS_<ID>``."""
    own = settings.multi_account_mode and account.assets != settings.assets
    return f"ASSETS_{account.id}" if own else "ASSETS"


async def resolve_symbols(shared: Shared, account: AccountSettings) -> dict[str, str]:
    """The account's assets as exchange symbols, backfilled.

    Raises:
        ConfigError: An asset is unknown to the market data source.
    """
    try:
        symbols = await shared.market.resolve_assets(account.assets)
    except UnknownAssetError as exc:
        raise ConfigError([f"{asset_variable(shared.settings, account)}: {exc}"]) from exc
    for symbol in symbols.values():
        await shared.market.backfill(symbol)
    return symbols


async def build_account(shared: Shared, account: AccountSettings) -> AccountRuntime:
    """Build one account's agent: the one way every run gets an account.

    The server builds each configured account here, and so does ``--replay`` (only the
    market source in ``shared`` differs); a backtest or an arena builds its accounts here too,
    with its own ``shared`` parts (clock, market data, journal), so every kind of run trades
    through the same exchange, provider and loop set-up. A live account gets a
    :class:`~app.exchange.live.LiveExchange` (its own keys, its user-data stream), a paper one
    a :class:`~app.exchange.paper.PaperExchange` restored from its saved state. The clients
    it opens are added to ``shared.clients`` for the caller to close.

    Args:
        shared: What every account of the run shares.
        account: The account's settings.

    Returns:
        Its runtime; ``managed.loop`` is None, with the reason in ``managed.detail``, when the
        account cannot run (a live account without AsterDEX, or refused by it).

    Raises:
        ConfigError: An asset is unknown to the market data source.
    """
    live = account.trading_mode is TradingMode.LIVE
    mode = TradingMode.LIVE if live else TradingMode.PAPER
    if live and shared.filters is None:
        detail = (
            "AsterDEX is unreachable: live mode never trades on replayed prices; "
            "this account waits for a restart with the exchange reachable"
        )
        logger.error("account %s: %s", account.id, detail)
        return AccountRuntime(ManagedAgent(mode, None, detail))
    symbols = await resolve_symbols(shared, account)
    after_tick: Callable[[], Awaitable[None]] | None = None
    exchange: Exchange
    trade_symbols: Callable[[Sequence[str]], None]
    if live:
        try:
            live_exchange = await _live_exchange(shared, account, list(symbols.values()))
        except ExchangeError as exc:
            detail = f"AsterDEX refused to set the account up: {exc}"
            logger.error("account %s: %s", account.id, detail)
            return AccountRuntime(ManagedAgent(mode, None, detail))

        def poll_symbols(wanted: Sequence[str]) -> None:
            live_exchange.symbols = wanted

        exchange, trade_symbols = live_exchange, poll_symbols
    else:
        paper = await _paper_exchange(shared, account, symbols)

        async def checkpoint() -> None:
            await shared.journal.save_paper_state(account.id, paper.snapshot())

        def rule_symbols(wanted: Sequence[str]) -> None:
            rules = shared.rule_filters
            paper.add_filters({s: rules[s] for s in wanted if s in rules})

        exchange, after_tick, trade_symbols = paper, checkpoint, rule_symbols
    llm = _llm(shared, account)
    guarded = GuardedDecisionProvider(
        llm,
        RulesDecisionProvider(),
        clock=shared.clock,
        spend=shared.spend_ledger(),
        daily_budget_usd=shared.settings.llm_daily_budget_usd,
        alert=lambda kind, message: shared.journal.event(
            account.id, kind, message, at=shared.clock.now(), severity="critical"
        ),
    )
    loop = AgentLoop(
        agent_config(shared.settings, account, symbols),
        clock=shared.clock,
        market=shared.market,
        exchange=exchange,
        provider=shared.decide or guarded,
        journal=shared.journal,
    )
    managed = ManagedAgent(
        mode,
        loop,
        "ready",
        after_tick=after_tick,
        until=shared.until,
        config_paused=account.agent_paused,
    )
    return AccountRuntime(managed, exchange, guarded, llm, trade_symbols)


async def _live_exchange(
    shared: Shared, account: AccountSettings, symbols: list[str]
) -> LiveExchange:
    """The account's signed client, its user-data stream and the live exchange port."""
    settings = shared.settings
    client = client_for(account, settings.exchange)
    shared.clients.append(client)
    stream = UserDataStream(client, settings.exchange.ws_url, symbols)
    exchange = LiveExchange(client, symbols=symbols, stream=stream)
    shared.clients.insert(0, exchange)  # stop the stream before its client closes
    await exchange.prepare()
    await exchange.start()
    logger.warning("account %s TRADES LIVE on AsterDEX (%s)", account.id, ", ".join(symbols))
    return exchange


async def _paper_exchange(
    shared: Shared, account: AccountSettings, symbols: Mapping[str, str]
) -> PaperExchange:
    """The account's simulated exchange, restored from its saved state when there is one."""
    settings = shared.settings
    saved = await shared.journal.paper_state(account.id)
    known = {s: shared.rule_filters[s] for s in symbols.values() if s in shared.rule_filters}
    if saved:
        return PaperExchange.restore(
            saved,
            clock=shared.clock,
            filters=known,
            balance=settings.paper_balance_usd,
            account=account.id,
        )
    return PaperExchange(
        clock=shared.clock, filters=known, balance=settings.paper_balance_usd, account=account.id
    )


def _llm(shared: Shared, account: AccountSettings) -> LlmDecisionProvider | None:
    if account.openrouter_api_key is None:
        return None
    settings = shared.settings
    client = OpenRouterClient(
        base_url=settings.llm.base_url,
        api_key=account.openrouter_api_key,
        timeout_s=settings.llm_timeout_s,
    )
    shared.clients.append(client)
    completions: Completions = client
    if shared.completions is not None:
        completions = shared.completions(client)
    return LlmDecisionProvider(
        completions,
        model=account.llm_model,
        features=feature_names(IndicatorConfig()),
        fallback_models=settings.llm_fallback_models,
        max_tokens=settings.llm_max_tokens,
        clock=shared.clock,
    )
