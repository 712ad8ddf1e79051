"""``trading-agent backfill`` against the fake AsterDEX: every closed bar once, resumable,
idempotent, through transient faults, on PostgreSQL and SQLite."""

import argparse
import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from app.cli import build_parser, main
from app.commands import backfill as command
from app.config import load_settings
from app.config._values import normalise_database_url
from app.core.types import interval_delta
from app.db.engine import create_engine
from app.db.session import create_session_factory, session_scope
from app.exchange.http.client import AsterdexClient
from app.market_data.models import Candle, FundingRateRow, MarkCandle
from tests.fakes.asterdex import FakeAsterdex, Fault, RecordedRequest

HISTORY = ("/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/fapi/v1/fundingRate")
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# Fully closed and well before now: the window does not move while a test runs.
START = NOW - timedelta(hours=3300)
END = NOW - timedelta(hours=100)

Rows = dict[str, list[tuple[object, ...]]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterdex]:
    # 3501 closed hourly bars: the window needs three pages of 1h klines.
    async with FakeAsterdex(
        rebase_to=datetime.now(UTC), start_index=3500, symbols=("BTCUSDT", "ETHUSDT")
    ) as exchange:
        yield exchange


def args(*extra: str, start: datetime = START, end: datetime = END) -> argparse.Namespace:
    return build_parser().parse_args(
        ["backfill", "--from", start.isoformat(), "--to", end.isoformat(), *extra]
    )


async def run(
    monkeypatch: pytest.MonkeyPatch, fake: FakeAsterdex, url: str, namespace: argparse.Namespace
) -> tuple[int, list[RecordedRequest]]:
    """Run the command as the CLI would (settings from the environment); its history calls."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ASTERDEX_BASE_URL", fake.base_url)
    before = len(fake.requests)
    status = await command.run_backfill(namespace, load_settings())
    return status, [r for r in fake.requests[before:] if r.path in HISTORY]


async def stored(url: str) -> Rows:
    """Every backfilled row, in key order."""
    engine = create_engine(normalise_database_url(url))
    try:
        async with session_scope(create_session_factory(engine)) as session:
            candles = await session.execute(
                select(
                    Candle.symbol,
                    Candle.interval,
                    Candle.open_time,
                    Candle.open,
                    Candle.high,
                    Candle.low,
                    Candle.close,
                    Candle.volume,
                ).order_by(Candle.symbol, Candle.interval, Candle.open_time)
            )
            marks = await session.execute(
                select(
                    MarkCandle.symbol,
                    MarkCandle.interval,
                    MarkCandle.open_time,
                    MarkCandle.open,
                    MarkCandle.high,
                    MarkCandle.low,
                    MarkCandle.close,
                ).order_by(MarkCandle.symbol, MarkCandle.interval, MarkCandle.open_time)
            )
            funding = await session.execute(
                select(
                    FundingRateRow.symbol, FundingRateRow.funding_time, FundingRateRow.rate
                ).order_by(FundingRateRow.symbol, FundingRateRow.funding_time)
            )
            rows = {
                "candles": [_aware(tuple(r)) for r in candles],
                "mark_candles": [_aware(tuple(r)) for r in marks],
                "funding_rates": [_aware(tuple(r)) for r in funding],
            }
    finally:
        await engine.dispose()
    return rows


def _aware(row: tuple[object, ...]) -> tuple[object, ...]:
    # SQLite gives times back naive (stored in UTC) and decimals back as they went in.
    return tuple(
        v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v for v in row
    )


async def expected(
    fake: FakeAsterdex, symbols: tuple[str, ...], intervals: tuple[str, ...]
) -> Rows:
    """What the exchange has in the window, asked page by page over the protocol."""
    rows: Rows = {"candles": [], "mark_candles": [], "funding_rates": []}
    async with AsterdexClient(base_url=fake.base_url) as client:
        for symbol in sorted(symbols):
            for interval in sorted(intervals):
                for kind in ("candles", "mark_candles"):
                    fetch = client.klines if kind == "candles" else client.mark_price_klines
                    cursor = START
                    while cursor < END:
                        page = await fetch(
                            symbol,
                            interval,
                            start=cursor,
                            end=END - timedelta(milliseconds=1),
                            limit=1000,
                        )
                        for k in page:
                            values = (k.open, k.high, k.low, k.close)
                            extra = (k.volume,) if kind == "candles" else ()
                            rows[kind].append((symbol, interval, k.open_time, *values, *extra))
                        if len(page) < 1000:
                            break
                        cursor = page[-1].open_time + interval_delta(interval)
            cursor = START
            while True:
                rates = await client.funding_rates(
                    symbol, start=cursor, end=END - timedelta(milliseconds=1), limit=1000
                )
                rows["funding_rates"] += [(symbol, r.time, r.rate) for r in rates]
                if len(rates) < 1000:
                    break
                cursor = rates[-1].time + timedelta(milliseconds=1)
    return rows


def counts(rows: Rows) -> dict[str, int]:
    return {kind: len(values) for kind, values in rows.items()}


def param(request: RecordedRequest, name: str) -> str:
    return dict(part.split("=", 1) for part in request.query.split("&"))[name]


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


@pytest.mark.postgres
async def test_every_closed_bar_is_stored_once_and_a_second_run_asks_for_nothing(
    postgres_url: str,
    fake: FakeAsterdex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, calls = await run(
        monkeypatch, fake, postgres_url, args("--assets", "BTC,eth", "--intervals", "1h,4h")
    )

    assert status == 0, capsys.readouterr().err
    rows = await stored(postgres_url)
    want = await expected(fake, ("BTCUSDT", "ETHUSDT"), ("1h", "4h"))
    assert rows == want
    hourly = [r for r in rows["candles"] if r[:2] == ("BTCUSDT", "1h")]
    assert len(hourly) == 3200  # no gap: every bar of [START, END)
    assert [r[2] for r in hourly] == [START + timedelta(hours=i) for i in range(3200)]
    assert counts(rows)["funding_rates"] > 100
    # Pages of at most the endpoint's limit: three for 3,200 hourly bars, one for 800 4h bars.
    klines = [c for c in calls if c.path == "/fapi/v1/klines"]
    assert max(int(param(c, "limit")) for c in klines) == 1500
    assert len(klines) == 2 * (3 + 1)
    assert len([c for c in calls if c.path == "/fapi/v1/markPriceKlines"]) == 2 * (3 + 1)

    err = capsys.readouterr().err
    # Not a terminal: plain progress lines, the last one complete, then the summary.
    progress = [line for line in err.splitlines() if line.startswith("backfill BTCUSDT,ETHUSDT")]
    assert progress
    assert "(100%)" in progress[-1]
    assert "\x1b[" not in err  # no terminal control codes
    assert f"{counts(rows)['candles']} candles" in err.splitlines()[-1]

    status, calls = await run(
        monkeypatch, fake, postgres_url, args("--assets", "BTC,ETH", "--intervals", "1h,4h")
    )
    assert status == 0
    assert calls == []  # everything was stored: not one history request
    assert await stored(postgres_url) == want
    assert "0 candles, 0 mark-price candles, 0 funding rates" in capsys.readouterr().err


@pytest.mark.postgres
async def test_a_narrower_run_then_the_full_window_fetches_only_the_rest(
    postgres_url: str, fake: FakeAsterdex, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = START + timedelta(hours=2000)
    first = args("--assets", "BTC", "--intervals", "1h", end=half)
    assert (await run(monkeypatch, fake, postgres_url, first))[0] == 0
    assert counts(await stored(postgres_url))["candles"] == 2000

    status, calls = await run(
        monkeypatch, fake, postgres_url, args("--assets", "BTC", "--intervals", "1h")
    )

    assert status == 0
    # The full first page was stored: only the page with the hole is asked, from the hole.
    klines = [c for c in calls if c.path == "/fapi/v1/klines"]
    assert [param(c, "startTime") for c in klines] == [ms(half), ms(START + timedelta(hours=3000))]
    funding = [c for c in calls if c.path == "/fapi/v1/fundingRate"]
    assert len(funding) == 1
    assert int(param(funding[0], "startTime")) > int(ms(half)) - 8 * 3600_000
    assert await stored(postgres_url) == await expected(fake, ("BTCUSDT",), ("1h",))


@pytest.mark.postgres
async def test_a_run_cut_by_the_exchange_stops_cleanly_and_the_next_one_completes(
    postgres_url: str,
    fake: FakeAsterdex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The second klines page and every one after it fail, past the client's retries.
    fake.inject(Fault("GET /fapi/v1/klines", "http_503", times=-1, after=1))

    status, _ = await run(
        monkeypatch, fake, postgres_url, args("--assets", "ETH", "--intervals", "1h")
    )

    assert status == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("backfill stopped:")
    assert "run it again to resume" in err[-1]
    assert counts(await stored(postgres_url))["candles"] == 1500  # the first page stayed

    fake.clear_faults()
    status, calls = await run(
        monkeypatch, fake, postgres_url, args("--assets", "ETH", "--intervals", "1h")
    )
    assert status == 0
    klines = [c for c in calls if c.path == "/fapi/v1/klines"]
    assert param(klines[0], "startTime") == ms(START + timedelta(hours=1500))
    assert await stored(postgres_url) == await expected(fake, ("ETHUSDT",), ("1h",))


@pytest.mark.postgres
async def test_one_429_and_one_5xx_per_endpoint_leave_no_gap_and_no_duplicate(
    postgres_url: str, fake: FakeAsterdex, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.inject(Fault("GET /fapi/v1/klines", "http_429", retry_after_s=1, after=1))
    fake.inject(Fault("GET /fapi/v1/markPriceKlines", "http_502"))
    fake.inject(Fault("GET /fapi/v1/fundingRate", "http_500"))

    status, calls = await run(
        monkeypatch, fake, postgres_url, args("--assets", "BTC", "--intervals", "1h,4h")
    )

    assert status == 0
    assert {hit.kind for hit in fake.fault_hits} == {"http_429", "http_502", "http_500"}
    assert [c.status for c in calls].count(429) == 1
    rows = await stored(postgres_url)
    assert rows == await expected(fake, ("BTCUSDT",), ("1h", "4h"))
    for kind, values in rows.items():
        keys = [v[:3] for v in values]
        assert len(keys) == len(set(keys)), kind


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--assets", "BTC,DOGE"], "unknown asset(s) DOGE"),
        (["--intervals", "1h,7m"], "unknown interval(s) 7m"),
        (["--intervals", "1w"], "unknown interval(s) 1w"),
        (["--assets", "BTC;ETH"], "--assets must list asset names"),
    ],
)
async def test_bad_arguments_exit_2_with_one_line_and_write_nothing(
    postgres_url: str,
    fake: FakeAsterdex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    given: list[str],
    message: str,
) -> None:
    status, calls = await run(monkeypatch, fake, postgres_url, args(*given))

    assert status == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("backfill: ")
    assert message in err[0]
    assert calls == []
    assert await _tables(postgres_url) == set()  # not even migrated


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-13-01", "2026-02-01", "--from '2026-13-01' is not a date"),
        ("2025-03-01", "yesterday", "--to 'yesterday' is not a date"),
        ("2025-03-02", "2025-03-01", "is not before --to 2025-03-01"),
        ("2999-01-01", None, "is in the future"),
    ],
)
async def test_bad_dates_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    start: str,
    end: str | None,
    message: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    # Nothing listens there: dates are refused before the exchange is asked.
    monkeypatch.setenv("ASTERDEX_BASE_URL", "http://127.0.0.1:9")
    argv = ["backfill", "--from", start, *(["--to", end] if end else [])]

    status = await command.run_backfill(build_parser().parse_args(argv), load_settings())

    assert status == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert message in err[0]
    assert not (tmp_path / "agent.db").exists()


async def test_the_command_line_on_sqlite_resumes_and_is_idempotent(
    tmp_path: Path,
    fake: FakeAsterdex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'agent.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ASTERDEX_BASE_URL", fake.base_url)
    argv = ["backfill", "--from", START.isoformat(), "--to", END.isoformat()]
    argv += ["--assets", "SOL,BTC", "--intervals", "4h"]

    # The real entry point, on its own event loop (the fake serves on this one).
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(main, argv)
    assert refused.value.code == 2  # SOL is not listed by this fake
    assert not (tmp_path / "agent.db").exists()

    argv[-3] = "BTC"
    with pytest.raises(SystemExit) as done:
        await asyncio.to_thread(main, argv)
    assert done.value.code == 0, capsys.readouterr().err
    want = await expected(fake, ("BTCUSDT",), ("4h",))
    assert await stored(url) == want
    assert counts(want)["candles"] == 800

    before = len(fake.requests)
    with pytest.raises(SystemExit) as again:
        await asyncio.to_thread(main, argv)
    assert again.value.code == 0
    assert [r for r in fake.requests[before:] if r.path in HISTORY] == []
    assert await stored(url) == want


async def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_database_url(url))
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
