"""A backtest over the database's candles (what `trading-agent backfill` stores) makes the
same trades as over the same candles in CSV files."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.backtest.engine import RunStatus, run_backtest
from app.backtest.sources import csv_source, database_source
from app.backtest.spec import BacktestSpec
from app.core.clock import SimulatedClock
from app.core.errors import ConfigError
from app.db.session import session_scope
from app.market_data.replay import ReplayMarketData, read_candle_csv
from app.market_data.repository import upsert_candles
from app.market_data.snapshots_repository import save_funding_rates
from tests.backtest.data import END, START, SYMBOLS, write_recording
from tests.db import Database

SPEC = BacktestSpec(START, END, ("BTC", "ETH"), interval="1h", long_interval="4h")


async def store_recording(db: Database, directory: Path) -> None:
    """The recording's 1h and 4h candles and its funding rates, as backfill stores them."""
    async with session_scope(db.sessions) as session:
        for symbol in SYMBOLS:
            rows = read_candle_csv(directory / f"{symbol}-1h.csv")
            klines = [r.kline(symbol, "1h") for r in rows]
            await upsert_candles(session, klines)
            files = ReplayMarketData(SimulatedClock(datetime(2030, 1, 1, tzinfo=UTC)), directory)
            four_hours = await files.candles(symbol, "4h", start=datetime(2000, 1, 1, tzinfo=UTC))
            await upsert_candles(session, [k for k in four_hours if k.closed])
            lines = (directory / f"{symbol}-funding.csv").read_text().splitlines()[1:]
            rates = [
                (datetime.fromtimestamp(int(ms) / 1000, UTC), Decimal(rate))
                for ms, rate in (line.split(",") for line in lines)
            ]
            await save_funding_rates(session, symbol, rates)


@pytest.mark.postgres
async def test_the_database_candles_give_the_csv_trades(pg: Database, tmp_path: Path) -> None:
    recording = write_recording(tmp_path / "recording")
    await store_recording(pg, recording)

    from_files = await run_backtest(SPEC, csv_source(recording))
    from_database = await run_backtest(
        SPEC,
        await database_source(
            pg.sessions, SPEC.assets, ("1h", "4h"), start=START, end=END, warmup_bars=250
        ),
    )

    assert from_database.status is RunStatus.COMPLETED
    fills = [
        (f.symbol, f.side, f.quantity, f.price, f.filled_at)
        for f in from_files.journal.fill_records
    ]
    assert fills
    assert [
        (f.symbol, f.side, f.quantity, f.price, f.filled_at)
        for f in from_database.journal.fill_records
    ] == fills


@pytest.mark.postgres
async def test_an_asset_the_database_lacks_is_refused(pg: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as empty:
        await database_source(pg.sessions, ("BTC",), ("1h",), start=START, end=END, warmup_bars=250)
    assert "the database holds no candles" in empty.value.problems[0]
    assert "trading-agent backfill" in empty.value.problems[0]

    await store_recording(pg, write_recording(tmp_path / "recording"))
    with pytest.raises(ConfigError) as missing:
        await database_source(
            pg.sessions, ("DOGE",), ("1h",), start=START, end=END, warmup_bars=250
        )
    assert "DOGE" in missing.value.problems[0]
    assert "trading-agent backfill" in missing.value.problems[0]
