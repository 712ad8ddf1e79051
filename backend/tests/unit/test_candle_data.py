"""The real candles kept in the repository: intact, and readable compressed."""

import gzip
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from app.market_data.replay import ReplayMarketData, read_candle_csv
from tests.data import CANDLES_DIR
from tests.fakes.clock import ManualClock


def test_every_candle_file_matches_its_recorded_checksum() -> None:
    recorded = {
        name: digest
        for digest, name in map(str.split, (CANDLES_DIR / "SHA256SUMS").read_text().splitlines())
    }
    actual = {
        path.name.removesuffix(".gz"): hashlib.sha256(
            gzip.decompress(path.read_bytes())
        ).hexdigest()
        for path in CANDLES_DIR.glob("*.csv.gz")
    }

    assert actual == recorded
    assert len(actual) == 12


def test_a_plain_csv_name_finds_its_compressed_twin(tmp_path: Path) -> None:
    rows = "open_time_ms,open,high,low,close,volume\n3600000,1,2,0.5,1.5,10\n"
    (tmp_path / "XUSDT-1h.csv.gz").write_bytes(gzip.compress(rows.encode()))

    [row] = read_candle_csv(tmp_path / "XUSDT-1h.csv")

    assert (row.open_ms, row.close, row.volume) == (3_600_000, Decimal("1.5"), Decimal(10))


async def test_the_replay_reads_the_compressed_recordings_with_their_funding() -> None:
    now = datetime(2026, 1, 1, 12, 7, tzinfo=UTC)
    replay = ReplayMarketData(ManualClock(now), CANDLES_DIR)

    quarter_hours = await replay.candles("SOLUSDT", "15m", start=now - timedelta(hours=1))
    index = await replay.premium_index("BTCUSDT")

    assert await replay.symbols() == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert [k.open_time.minute for k in quarter_hours] == [15, 30, 45, 0]
    assert index.next_funding_time == datetime(2026, 1, 1, 16, tzinfo=UTC)
    assert index.last_funding_rate != 0
