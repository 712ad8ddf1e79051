"""``/api/v1/market`` on PostgreSQL: candles, resampling in SQL, indicator snapshots, errors."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import numpy as np
import pytest
import talib
from asgi_lifespan import LifespanManager

from app.config import load_settings
from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.session import create_session_factory, session_scope
from app.indicators.features import timeframe_features
from app.indicators.schemas import IndicatorConfig
from app.main import create_app
from app.market_data import repository as repo
from app.market_data import snapshots_repository as snapshot_repo
from tests.data import real_klines

DAY = datetime(2025, 6, 1, tzinfo=UTC)
TOKEN = "market-test-token-0123456789"


@pytest.fixture(autouse=True)
def api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)


@asynccontextmanager
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(use_default_env_file=False))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            yield client


async def seed(url: str) -> None:
    """Three days of real BTC 1h candles and one indicator snapshot."""
    candles = [
        k for k in real_klines("BTCUSDT", "1h") if DAY <= k.open_time < DAY + timedelta(days=3)
    ]
    history = [k for k in real_klines("BTCUSDT", "1h") if k.open_time < DAY + timedelta(days=3)]
    engine = create_engine(normalise_database_url(url))
    try:
        async with session_scope(create_session_factory(engine)) as session:
            await repo.upsert_candles(session, candles)
            frame = timeframe_features("BTCUSDT", "1h", history[-300:], IndicatorConfig())
            await snapshot_repo.save_snapshot(
                session, "BTCUSDT", "1h", frame.open_time, "test", frame.model_dump(mode="json")
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def client(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    async with api(postgres_url) as http:  # migrates the database
        await seed(postgres_url)
        yield http


@pytest.mark.postgres
async def test_candles_newest_first_page_and_time_range(client: httpx.AsyncClient) -> None:
    latest = await client.get("/api/v1/market/BTCUSDT/candles", params={"limit": 5})
    ranged = await client.get(
        "/api/v1/market/btcusdt/candles",
        params={"start": DAY.isoformat(), "end": (DAY + timedelta(hours=2)).isoformat()},
    )

    assert latest.status_code == 200
    rows = latest.json()["candles"]
    assert len(rows) == 5
    assert rows[-1]["open_time"] == "2025-06-03T23:00:00Z"
    assert [r["open_time"] for r in ranged.json()["candles"]] == [
        "2025-06-01T00:00:00Z",
        "2025-06-01T01:00:00Z",
        "2025-06-01T02:00:00Z",
    ]


@pytest.mark.postgres
async def test_resampling_in_sql_matches_the_exchanges_4h_candles(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v1/market/BTCUSDT/candles",
        params={
            "bucket": "4h",
            "start": DAY.isoformat(),
            "end": (DAY + timedelta(days=3)).isoformat(),
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["bucket"] == "4h"
    exchange_4h = [
        k for k in real_klines("BTCUSDT", "4h") if DAY <= k.open_time < DAY + timedelta(days=3)
    ]
    assert len(body["candles"]) == len(exchange_4h) == 18
    for row, real in zip(body["candles"], exchange_4h, strict=True):
        assert row["candles"] == 4
        assert datetime.fromisoformat(row["open_time"]) == real.open_time
        assert [Decimal(row[f]) for f in ("open", "high", "low", "close", "volume")] == [
            real.open,
            real.high,
            real.low,
            real.close,
            real.volume,
        ]


@pytest.mark.postgres
async def test_indicator_snapshot_latest_and_at_a_time(client: httpx.AsyncClient) -> None:
    latest = await client.get("/api/v1/market/BTCUSDT/indicators", params={"interval": "1h"})
    before = await client.get("/api/v1/market/BTCUSDT/indicators", params={"at": DAY.isoformat()})

    assert latest.status_code == 200
    assert latest.json()["open_time"] == "2025-06-03T23:00:00Z"
    assert set(latest.json()["features"]["values"]) >= {"rsi", "ema_200", "atr", "adx"}
    assert before.status_code == 404
    assert before.json()["error"] == "not_found"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/api/v1/market/DOGEUSDT/candles", {}, 404, "unknown symbol 'DOGEUSDT'"),
        ("/api/v1/market/BTCUSDT/candles", {"interval": "7m"}, 422, "interval '7m' is not one of"),
        ("/api/v1/market/BTCUSDT/candles", {"bucket": "45m"}, 422, "bucket '45m'"),
        ("/api/v1/market/BTCUSDT/candles", {"bucket": "90m"}, 422, "is not one of"),
        ("/api/v1/market/BTCUSDT/candles", {"limit": 0}, 422, "limit"),
        ("/api/v1/market/BTCUSDT/indicators", {"interval": "2y"}, 422, "interval '2y'"),
    ],
)
async def test_bad_requests_get_a_clear_error(
    client: httpx.AsyncClient, path: str, params: dict[str, str | int], status: int, fragment: str
) -> None:
    response = await client.get(path, params=params)

    assert response.status_code == status
    assert fragment in response.json()["detail"]
    assert set(response.json()) == {"error", "detail"}


async def test_resampling_on_the_sqlite_default(tmp_path: object) -> None:
    url = "sqlite:///./data/trading-agent.db"
    async with api(url) as http:
        await seed(url)
        response = await http.get(
            "/api/v1/market/BTCUSDT/candles",
            params={
                "bucket": "1d",
                "start": DAY.isoformat(),
                "end": (DAY + timedelta(days=3)).isoformat(),
            },
        )

    days = response.json()["candles"]
    assert [d["candles"] for d in days] == [24, 24, 24]
    assert Decimal(days[0]["high"]) == max(
        k.high for k in real_klines("BTCUSDT", "1h") if DAY <= k.open_time < DAY + timedelta(days=1)
    )


@pytest.mark.postgres
async def test_indicator_series_line_up_with_the_candles_they_are_drawn_over(
    client: httpx.AsyncClient,
) -> None:
    series = await client.get(
        "/api/v1/market/BTCUSDT/indicator-series", params={"interval": "1h", "limit": 24}
    )
    candles = await client.get(
        "/api/v1/market/BTCUSDT/candles", params={"interval": "1h", "limit": 24}
    )
    unknown = await client.get("/api/v1/market/DOGEUSDT/indicator-series")

    assert series.status_code == 200
    body = series.json()
    assert body["open_times"] == [c["open_time"] for c in candles.json()["candles"]]
    lines = body["series"]
    assert set(lines) == {"ema_20", "ema_50", "ema_200", "bb_upper", "bb_middle", "bb_lower"}
    assert all(len(line) == 24 for line in lines.values())
    # The three stored days are too few for EMA 200: warming up is null, never a made-up value.
    assert lines["ema_200"] == [None] * 24
    # EMA 20 over every stored close (TA-Lib directly), the last 24 values.
    stored = [
        float(k.close)
        for k in real_klines("BTCUSDT", "1h")
        if DAY <= k.open_time < DAY + timedelta(days=3)
    ]
    expected = talib.EMA(np.array(stored), 20)[-24:]
    assert lines["ema_20"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert all(
        u >= m >= low
        for u, m, low in zip(lines["bb_upper"], lines["bb_middle"], lines["bb_lower"], strict=True)
    )
    assert unknown.status_code == 404
