"""Candle ingest into PostgreSQL: the project's write path against raw asyncpg ``COPY``.

Ours: ``upsert_candles(session, klines)`` inside ``session_scope`` (it checks which candles
are new, converts the Klines to records and ``COPY``s them inside a savepoint, then the scope
commits). Baseline: ``copy_records_to_table`` of the same rows, prebuilt as tuples, on a bare
asyncpg connection to the same database. Both start from an empty ``candles`` table
(``TRUNCATE`` before every run); runs alternate and the medians are compared.

Ratio = baseline median / our median: our throughput as a fraction of raw ``COPY``.
"""

import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.session import create_session_factory, session_scope
from app.exchange.types import Kline
from app.market_data.repository import CANDLE_COLUMNS, candle_records, upsert_candles
from benchmarks.candles import candle_rows, to_klines
from benchmarks.timing import machine, median, rounded, time_await, time_call

ADMIN_URL: Final = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ROWS: Final = 100_000
RUNS: Final = 5
GOAL_RATIO: Final = 0.7
# 1h candles of two symbols: every (symbol, interval, open_time) key is distinct.
SERIES: Final = (("BTCUSDT", "1h"), ("ETHUSDT", "1h"))
COLUMNS: Final = CANDLE_COLUMNS

type Record = tuple[Any, ...]


def load_klines(total: int = ROWS) -> list[Kline]:
    """``total`` real closed candles: all of the first series, the rest from the next ones.

    Raises:
        ValueError: The series together hold fewer than ``total`` candles.
    """
    klines: list[Kline] = []
    for symbol, interval in SERIES:
        rows = candle_rows(symbol, interval)[: total - len(klines)]
        klines.extend(to_klines(symbol, interval, rows))
    if len(klines) < total:
        raise ValueError(f"only {len(klines)} candles in {SERIES}, {total} wanted")
    return klines


def as_records(klines: Sequence[Kline], now: datetime) -> list[Record]:
    """The baseline's rows: one tuple per candle, in ``COLUMNS`` order."""
    return candle_records(klines, now)


async def _connect(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=10,
    )


async def run() -> dict[str, Any]:
    """Measure both sides in a throw-away database and return the report."""
    admin_url = make_url(ADMIN_URL)
    name = f"ta_bench_{uuid.uuid4().hex[:12]}"
    admin = await _connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await _measure(admin_url.set(database=name))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _measure(url: URL) -> dict[str, Any]:
    for symbol, interval in SERIES:
        candle_rows(symbol, interval)  # parse the CSVs first: neither side is timed on that
    build_s, klines = time_call(load_klines)
    records = as_records(klines, datetime.now(UTC))
    async_url = url.set(drivername="postgresql+asyncpg")
    engine = create_engine(async_url.render_as_string(hide_password=False))
    raw = await _connect(url)
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        checkpoint = await raw.fetchval(
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_checkpoint', 'MEMBER') "
            "FROM pg_roles WHERE rolname = current_user"
        )

        async def ours(batch: Sequence[Kline]) -> int:
            async with session_scope(sessions) as session:
                return await upsert_candles(session, batch)

        async def baseline(batch: list[Record]) -> int:
            await raw.copy_records_to_table("candles", records=batch, columns=list(COLUMNS))
            return len(batch)

        async def truncate() -> None:
            await raw.execute("TRUNCATE candles")
            if checkpoint:  # flush the previous run's dirty pages: each run starts alike
                await raw.execute("CHECKPOINT")

        # Warm up both sides (pooled connection, type introspection, statement caches).
        await truncate()
        await ours(klines[:1000])
        await truncate()
        await baseline(records[:1000])

        our_times: list[float] = []
        baseline_times: list[float] = []
        for _ in range(RUNS):
            await truncate()
            elapsed, stored = await time_await(lambda: ours(klines))
            if stored != len(klines):
                raise RuntimeError(f"upsert_candles stored {stored} of {len(klines)} rows")
            our_times.append(elapsed)
            await truncate()
            elapsed, _ = await time_await(lambda: baseline(records))
            baseline_times.append(elapsed)
        count = await raw.fetchval("SELECT count(*) FROM candles")
        if count != len(records):
            raise RuntimeError(f"COPY stored {count} of {len(records)} rows")
        async with engine.connect() as connection:
            server = (await connection.execute(text("SHOW server_version"))).scalar_one()
    finally:
        await raw.close()
        await engine.dispose()

    ours_s, baseline_s = median(our_times), median(baseline_times)
    ratio = baseline_s / ours_s
    return {
        "benchmark": "ingest",
        "goal": f"ratio >= {GOAL_RATIO} at {ROWS} rows (raw COPY time / upsert_candles time)",
        "met": ratio >= GOAL_RATIO,
        "ratio": round(ratio, 3),
        "ratio_best_runs": round(min(baseline_times) / min(our_times), 3),
        "rows": len(klines),
        "series": [f"{symbol}-{interval}" for symbol, interval in SERIES],
        "runs": RUNS,
        "ours_median_s": rounded(ours_s),
        "baseline_median_s": rounded(baseline_s),
        "ours_rows_per_s": round(len(klines) / ours_s),
        "baseline_rows_per_s": round(len(records) / baseline_s),
        "ours_runs_s": [rounded(t) for t in our_times],
        "baseline_runs_s": [rounded(t) for t in baseline_times],
        "kline_build_s": rounded(build_s),
        "postgres": server,
        "checkpoint_between_runs": bool(checkpoint),
        "machine": machine(),
    }
