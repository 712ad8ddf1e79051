"""Market data on PostgreSQL: idempotent bulk upserts, gap refill from the fake exchange,
the quality gate, features and snapshots."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db.session import session_scope
from app.exchange.http.client import AsterdexClient
from app.exchange.http.streams import MarketStream, ReconnectPolicy
from app.market_data import repository as repo
from app.market_data import snapshots_repository as snapshot_repo
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.models import Candle
from app.market_data.service import MarketDataService
from app.market_data.symbols import UnknownAssetError
from tests.data import real_klines
from tests.fakes.asterdex import FakeAsterdex
from tests.fakes.clock import ManualClock

from .conftest import Database

pytestmark = pytest.mark.postgres


async def count(db: Database, symbol: str = "BTCUSDT", interval: str = "1h") -> int:
    async with session_scope(db.sessions) as session:
        query = select(func.count()).where(Candle.symbol == symbol, Candle.interval == interval)
        return int((await session.execute(query)).scalar_one())


async def test_bulk_upsert_is_idempotent(pg: Database) -> None:
    candles = real_klines("BTCUSDT", "1h", count=400, skip=30_000)

    async with session_scope(pg.sessions) as session:
        first = await repo.upsert_candles(session, candles[:300])
    async with session_scope(pg.sessions) as session:
        again = await repo.upsert_candles(session, candles[:300])
    async with session_scope(pg.sessions) as session:
        overlap = await repo.upsert_candles(session, candles[250:] + candles[250:260])
    async with session_scope(pg.sessions) as session:
        stored = await repo.fetch_candles(session, "BTCUSDT", "1h")

    assert (first, again, overlap) == (300, 0, 100)
    assert await count(pg) == 400
    assert [(c.open_time, c.close, c.volume) for c in stored] == [
        (c.open_time, c.close, c.volume) for c in candles
    ]


async def test_forming_candles_are_refused(pg: Database) -> None:
    forming = real_klines("ETHUSDT", "1h", count=1)[0]
    object.__setattr__(forming, "closed", False)

    async with session_scope(pg.sessions) as session:
        with pytest.raises(ValueError, match="only closed candles"):
            await repo.upsert_candles(session, [forming])


@pytest.fixture
async def market(
    pg: Database,
) -> AsyncIterator[tuple[MarketDataService, FakeAsterdex, ManualClock]]:
    clock = ManualClock(datetime.now(UTC).replace(minute=5, second=0, microsecond=0))
    fake = FakeAsterdex(clock=clock, rebase_to=clock.now())
    async with fake, AsterdexClient(base_url=fake.base_url, clock=clock) as client:
        service = MarketDataService(
            ExchangeMarketData(client),
            pg.sessions,
            clock,
            intervals=("1h", "4h"),
            backfill_bars=250,
        )
        yield service, fake, clock


async def test_backfill_loads_enough_closed_candles_and_a_gap_is_refilled(
    pg: Database, market: tuple[MarketDataService, FakeAsterdex, ManualClock]
) -> None:
    service, _, clock = market
    assert await service.resolve_assets(["BTC", "sol"]) == {"BTC": "BTCUSDT", "sol": "SOLUSDT"}

    added = await service.backfill("BTCUSDT")
    assert added == 500
    stored = await service.closed_candles("BTCUSDT", "1h", 1000)
    assert len(stored) == 250
    assert stored[-1].open_time + timedelta(hours=1) <= clock.now()

    hole = [c.open_time for c in stored[100:105]]
    async with session_scope(pg.sessions) as session:
        await repo.delete_candles(session, "BTCUSDT", "1h", hole)
    assert await count(pg) == 245

    assert await service.refill_gaps("BTCUSDT", "1h") == 5
    refilled = await service.closed_candles("BTCUSDT", "1h", 1000)
    assert [(c.open_time, c.close) for c in refilled] == [(c.open_time, c.close) for c in stored]
    assert await service.backfill("BTCUSDT") == 0  # idempotent


async def test_unknown_assets_are_refused_clearly(
    market: tuple[MarketDataService, FakeAsterdex, ManualClock],
) -> None:
    service, _, _ = market

    with pytest.raises(UnknownAssetError, match=r"unknown asset.*DOGE.*DOGEUSDT"):
        await service.resolve_assets(["BTC", "DOGE"])


async def test_rest_fallback_and_the_quality_gate(
    market: tuple[MarketDataService, FakeAsterdex, ManualClock],
) -> None:
    service, _, clock = market
    await service.backfill("ETHUSDT")
    await service.refresh_mark("ETHUSDT")
    assert (await service.quality("ETHUSDT")).ok

    clock.advance(timedelta(hours=3))  # no stream: three candles closed unseen
    stale = await service.quality("ETHUSDT")
    assert not stale.ok
    assert any("ETHUSDT 1h: stale" in reason for reason in stale.reasons)

    assert await service.ensure_fresh("ETHUSDT") >= 3
    await service.refresh_mark("ETHUSDT")
    assert (await service.quality("ETHUSDT")).ok


async def test_quality_gate_reports_a_missing_timeframe(
    market: tuple[MarketDataService, FakeAsterdex, ManualClock],
) -> None:
    service, _, clock = market
    fake_source = MarketDataService(
        service.source, service.sessions, clock, intervals=("1h",), backfill_bars=60
    )
    await fake_source.backfill("SOLUSDT")  # the 1h series only

    verdict = await service.quality("SOLUSDT")

    assert verdict.reasons == ("SOLUSDT 4h: no closed candles (missing timeframe)",)


async def test_features_are_built_and_stored_as_snapshots(
    pg: Database, market: tuple[MarketDataService, FakeAsterdex, ManualClock]
) -> None:
    service, _, _ = market
    await service.backfill("BTCUSDT")

    features = await service.features("BTCUSDT")

    assert set(features.timeframes) == {"1h", "4h"}
    assert features.timeframes["1h"].values["ema_200"] is not None
    async with session_scope(pg.sessions) as session:
        snapshot = await snapshot_repo.load_snapshot(session, "BTCUSDT", "1h")
    assert snapshot is not None
    assert snapshot.open_time == features.timeframes["1h"].open_time
    assert snapshot.values["values"]["rsi"] == features.timeframes["1h"].values["rsi"]
    assert Decimal(str(snapshot.values["close"])) > 0


async def test_the_kline_stream_keeps_the_store_current(
    pg: Database, market: tuple[MarketDataService, FakeAsterdex, ManualClock]
) -> None:
    service, fake, clock = market
    await service.backfill("BTCUSDT")
    before = await service.closed_candles("BTCUSDT", "1h", 1)
    async with AsterdexClient(base_url=fake.base_url, clock=clock) as client:
        stream = MarketStream(
            client,
            fake.ws_url,
            [("BTCUSDT", "1h")],
            mark_prices=["BTCUSDT"],
            since={("BTCUSDT", "1h"): before[-1].open_time},
            policy=ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.1),
        )
        events = stream.events()
        consumer = asyncio.create_task(service.consume(events))
        try:
            await asyncio.sleep(0.3)
            for _ in range(2):
                clock.advance(timedelta(hours=1))
                await fake.process()
            for _ in range(100):
                latest = await service.closed_candles("BTCUSDT", "1h", 1)
                if latest[-1].open_time == before[-1].open_time + timedelta(hours=2):
                    break
                await asyncio.sleep(0.05)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await events.aclose()

    assert latest[-1].open_time == before[-1].open_time + timedelta(hours=2)
    mark = service.mark("BTCUSDT")
    assert mark is not None
    assert mark.mark_price > 0
