"""The market data source of a run: live AsterDEX when it answers, else the replay.

Paper mode runs on live AsterDEX market data when the exchange answers, otherwise (and with
``--replay``) on the recorded replay, saying so loudly. The choice comes with its clock (the
replay's runs faster than the wall clock), AsterDEX's symbol filters (None on a replay, which
keeps live accounts idle) and the end of the recording.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import Settings
from app.core.clock import Clock, ReplayClock, SystemClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS, TradingMode
from app.exchange.errors import ExchangeError
from app.exchange.filters import SymbolFilters
from app.exchange.http.client import AsterdexClient
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.ports import MarketDataSource
from app.market_data.replay import SAMPLE_DIR, ReplayMarketData
from app.market_data.symbols import UnknownAssetError, resolve_assets
from app.runtime.builder import asset_variable

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MarketChoice:
    """The market data source a run chose, and what comes with it.

    Attributes:
        source: Candles, marks and symbols.
        name: What ``/status`` and the logs call it.
        clock: The run's clock (a replay's runs at ``REPLAY_SPEED``).
        filters: AsterDEX's ``exchangeInfo``; None on a replay (live accounts then wait).
        until: The end of the recording on a replay (the agents stop there).
        replay_start: Where a replay starts (after enough history for the indicators).
    """

    source: MarketDataSource
    name: str
    clock: Clock
    filters: dict[str, SymbolFilters] | None
    until: datetime | None = None
    replay_start: datetime | None = None


async def choose_market_source(
    settings: Settings, public: AsterdexClient, *, replay: bool
) -> MarketChoice:
    """AsterDEX when it answers (and not ``replay``), else the recorded replay.

    The server, ``--replay`` and ``--check-config`` all choose here, so they agree.

    Raises:
        ConfigError: The replay recording has no candles, or too few for the backfill.
    """
    if not replay and await _reachable(public):
        filters = await public.exchange_info()
        return MarketChoice(
            ExchangeMarketData(public), "AsterDEX market data", SystemClock(), filters
        )
    if not replay:
        logger.warning(
            "AsterDEX is unreachable: PAPER MODE RUNS ON THE RECORDED REPLAY, NOT LIVE PRICES"
        )
    data_dir = Path(settings.replay_data_dir) if settings.replay_data_dir else SAMPLE_DIR
    probe = ReplayMarketData(SystemClock(), data_dir)
    start, until = await _replay_window(probe, settings)
    clock = ReplayClock(start, settings.replay_speed)
    source = ReplayMarketData(clock, data_dir)
    return MarketChoice(source, f"replay of {data_dir}", clock, None, until, start)


async def _reachable(client: AsterdexClient) -> bool:
    try:
        await asyncio.wait_for(client.ping(), 6.0)
    except (ExchangeError, TimeoutError) as exc:
        logger.warning("AsterDEX did not answer (%s)", exc)
        return False
    return True


async def _replay_window(probe: ReplayMarketData, settings: Settings) -> tuple[datetime, datetime]:
    """Start after enough history for the indicators; stop at the end of the recording."""
    far_past = datetime(2000, 1, 1, tzinfo=UTC)
    symbols = sorted(await probe.symbols())
    if not symbols:
        where = settings.replay_data_dir
        raise ConfigError([f"REPLAY_DATA_DIR: no <SYMBOL>-<interval>.csv recordings in {where}"])
    first = await probe.candles(symbols[0], settings.interval, start=far_past)
    if not first:
        raise ConfigError([f"REPLAY_DATA_DIR: no {settings.interval} candles to replay"])
    longest = max(KLINE_INTERVALS_MS[i] for i in settings.market_data.intervals)
    warmup = timedelta(milliseconds=longest) * (settings.backfill_bars + 1)
    start = first[0].open_time + warmup
    end = first[-1].close_time
    if start >= end:
        raise ConfigError(
            [f"BACKFILL_BARS: the recording is too short for {settings.backfill_bars} bars"]
        )
    return start, end


async def check_market(settings: Settings, *, replay: bool) -> str:
    """Run the checks startup makes against the market data, without a database.

    The same source is chosen as at startup (AsterDEX when it answers, else the replay), the
    replay recording must cover the backfill, and every account that would run must trade
    assets the source lists (a live account with AsterDEX unreachable waits, as at startup).

    Returns:
        The market data source's name.

    Raises:
        ConfigError: One ``VARIABLE: problem`` line per refusal startup would make.
    """
    public = AsterdexClient(base_url=settings.exchange.base_url, clock=SystemClock(), timeout_s=5.0)
    try:
        chosen = await choose_market_source(settings, public, replay=replay)
        known = await chosen.source.symbols()
    finally:
        await public.aclose()
    problems: list[str] = []
    for account in settings.accounts:
        if account.trading_mode is TradingMode.LIVE and chosen.filters is None:
            continue
        try:
            resolve_assets(account.assets, known)
        except UnknownAssetError as exc:
            problems.append(f"{asset_variable(settings, account)}: {exc}")
    if problems:
        raise ConfigError(problems)
    return chosen.name
