"""Decimals read the same in every answer over real HTTP, on SQLite and on PostgreSQL: plain
notation, no exponent (``1E+4``), no padding to the column's scale (``67190.300000000000000000``).
"""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.market_data import repository as market_repo
from app.trading.models import EquitySnapshot, Fill
from tests.data import real_klines
from tests.service import RunningService, serve

TOKEN = "decimal-test-token-0123456789"
ACCOUNT = "/api/v1/accounts/default"
DAY = datetime(2025, 6, 1, tzinfo=UTC)
PLAIN = re.compile(r"-?(0|[1-9]\d*)(\.\d*[1-9])?")
D = Decimal


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None  # the quick start's default file
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
async def service(
    database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    if database_url is not None:
        monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("API_TOKEN", TOKEN)
    async with serve() as running:
        await seed(running)
        yield running


async def seed(service: RunningService) -> None:
    """Round equities (10000 prints as 1E+4 once normalised), a tiny fee, a day of candles."""
    equities = [D(10_000), D("10000.50"), D("9999.25")]
    async with service.container.sessions() as session, session.begin():
        for i, equity in enumerate(equities):
            session.add(
                EquitySnapshot(
                    account_id="default",
                    taken_at=DAY + i * timedelta(hours=1),
                    equity=equity,
                    wallet_balance=D(10_000),
                    available_balance=D(10_000),
                    unrealized_pnl=equity - D(10_000),
                    margin_used=D(0),
                )
            )
        session.add(
            Fill(
                account_id="default",
                symbol="BTCUSDT",
                trade_id="t1",
                side="SELL",
                price=D("67190.30"),
                quantity=D("0.010"),
                fee=D("0.00001"),
                fee_asset="USDT",
                realized_pnl=D(20),
                is_maker=False,
                filled_at=DAY + timedelta(minutes=30),
                created_at=DAY + timedelta(minutes=30),
            )
        )
        candles = [
            k for k in real_klines("BTCUSDT", "1h") if DAY <= k.open_time < DAY + timedelta(days=1)
        ]
        await market_repo.upsert_candles(session, candles)


def decimal_texts(body: Any) -> list[str]:
    """Every string in the answer that is a number."""
    if isinstance(body, dict):
        return [t for value in body.values() for t in decimal_texts(value)]
    if isinstance(body, list):
        return [t for value in body for t in decimal_texts(value)]
    if isinstance(body, str) and re.fullmatch(r"[-+.\dE]+", body, flags=re.IGNORECASE):
        return [body]
    return []


async def test_performance_and_the_equity_curve_read_plain(service: RunningService) -> None:
    async with service.client(TOKEN) as http:
        response = await http.get(f"{ACCOUNT}/performance", params={"bucket": "1h"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["start_equity"] == "10000"
    assert body["end_equity"] == "9999.25"
    assert [p["equity"] for p in body["curve"]] == ["10000", "10000.5", "9999.25"]
    assert body["fees"] == "0.00001"
    assert body["realized_pnl"] == "20"
    texts = decimal_texts(body)
    assert len(texts) > 5
    assert all(PLAIN.fullmatch(t) for t in texts), texts


async def test_fills_read_plain(service: RunningService) -> None:
    async with service.client(TOKEN) as http:
        response = await http.get(f"{ACCOUNT}/fills")

    (fill,) = response.json()["items"]
    assert (fill["price"], fill["quantity"], fill["fee"]) == ("67190.3", "0.01", "0.00001")


async def test_bucketed_candles_read_plain(service: RunningService) -> None:
    async with service.client(TOKEN) as http:
        response = await http.get(
            "/api/v1/market/BTCUSDT/candles",
            params={
                "bucket": "4h",
                "start": DAY.isoformat(),
                "end": (DAY + timedelta(hours=23)).isoformat(),
            },
        )

    assert response.status_code == 200, response.text
    rows = response.json()["candles"]
    assert len(rows) == 6
    exchange_4h = [
        k for k in real_klines("BTCUSDT", "4h") if DAY <= k.open_time < DAY + timedelta(days=1)
    ]
    for row, real in zip(rows, exchange_4h, strict=True):
        fields = [row[f] for f in ("open", "high", "low", "close", "volume")]
        assert all(PLAIN.fullmatch(text) for text in fields), fields
        assert [D(text) for text in fields] == [
            real.open,
            real.high,
            real.low,
            real.close,
            real.volume,
        ]
