"""Where a backtest's candles come from: a CSV directory, or the database's candles.

Both end up as a :class:`~app.market_data.replay.ReplayMarketData` read once, which each
pass of the run (and its report) sees on a clock of its own; the database's candles are read
for the window and the indicators' warm-up before it, nothing more.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import distinct, select

from app.backtest.engine import SourceFactory
from app.core.clock import SimulatedClock
from app.core.errors import ConfigError
from app.core.types import KLINE_INTERVALS_MS
from app.db.session import SessionFactory, session_scope
from app.market_data.models import Candle, FundingRateRow
from app.market_data.replay import CandleRow, ReplayMarketData, recording
from app.market_data.symbols import UnknownAssetError, resolve_assets


def csv_source(directory: Path) -> SourceFactory:
    """Candles in ``<SYMBOL>-<interval>.csv[.gz]`` files (the bundled format).

    Raises:
        ConfigError: The directory holds no candle file.
    """
    if not directory.is_dir() or not any(
        recording(path) for path in directory.iterdir() if "-" in path.name
    ):
        raise ConfigError([f"--data: no <SYMBOL>-<interval>.csv candle files in {directory}"])
    base = ReplayMarketData(SimulatedClock(datetime(1970, 1, 1, tzinfo=UTC)), directory)
    return base.at


async def database_source(
    sessions: SessionFactory,
    assets: Iterable[str],
    intervals: Iterable[str],
    *,
    start: datetime,
    end: datetime,
    warmup_bars: int,
) -> SourceFactory:
    """The database's candles (and funding rates) for the window and its warm-up.

    Raises:
        ConfigError: An asset has no stored candles (``trading-agent backfill`` fills them).
    """
    async with session_scope(sessions) as session:
        stored = set(await session.scalars(select(distinct(Candle.symbol))))
        if not stored:
            raise ConfigError(
                [
                    "--data: the database holds no candles; fill it with `trading-agent "
                    "backfill --from ... --to ... --assets ...`, or give --data DIR (CSV "
                    "candles, e.g. backend/tests/candles)"
                ]
            )
        try:
            symbols = resolve_assets(list(assets), stored)
        except UnknownAssetError as exc:
            raise ConfigError(
                [f"--assets: {exc} in the database (run `trading-agent backfill` first)"]
            ) from exc
        series: dict[tuple[str, str], list[CandleRow]] = {}
        funding: dict[str, list[tuple[int, Decimal]]] = {}
        for symbol in symbols.values():
            for interval in intervals:
                step = timedelta(milliseconds=KLINE_INTERVALS_MS[interval])
                rows = await session.scalars(
                    select(Candle)
                    .where(
                        Candle.symbol == symbol,
                        Candle.interval == interval,
                        Candle.open_time >= start - step * (warmup_bars + 2),
                        Candle.open_time < end,
                    )
                    .order_by(Candle.open_time)
                )
                series[(symbol, interval)] = [
                    CandleRow(_ms(c.open_time), c.open, c.high, c.low, c.close, c.volume)
                    for c in rows
                ]
            rates = await session.scalars(
                select(FundingRateRow)
                .where(FundingRateRow.symbol == symbol, FundingRateRow.funding_time < end)
                .order_by(FundingRateRow.funding_time)
            )
            funding[symbol] = [(_ms(r.funding_time), r.rate) for r in rates]
    base = ReplayMarketData.from_rows(SimulatedClock(start), series, funding)
    return base.at


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
