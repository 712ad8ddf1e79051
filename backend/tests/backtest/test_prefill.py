"""Indicator frames computed ahead on the other core: the loop's own frames, or none at all.

The worker is a real process over pipes; the loop never waits for it, so these tests wait
for it themselves where they need every frame to be there first.
"""

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.backtest.engine import run_backtest
from app.backtest.spec import resolve
from app.core.clock import SimulatedClock
from app.indicators.schemas import IndicatorConfig
from app.market_data.frames import FrameCache
from app.market_data.prefill import Prefill, prefill_window
from tests.backtest.data import END, START, SYMBOLS, write_recording
from tests.backtest.test_engine import SPEC, decisions, source_in, trades

WORKER_DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("recording"))


async def start_prefill(recording: Path, cache: FrameCache) -> Prefill:
    settings, _ = resolve(SPEC)
    indicators = IndicatorConfig()
    ahead = Prefill(cache)
    await prefill_window(
        ahead,
        source_in(recording)(SimulatedClock(END)),
        SYMBOLS,
        ("1h", "4h"),
        start=START,
        end=END,
        held_bars=max(settings.backfill_bars, indicators.warmup_bars),
        indicators=indicators,
    )
    return ahead


async def test_every_frame_computed_ahead_is_the_one_the_loop_needs(recording: Path) -> None:
    plain = await run_backtest(SPEC, source_in(recording), prefill=False)
    cache = FrameCache()
    ahead = await start_prefill(recording, cache)
    try:
        assert ahead.wait(WORKER_DEADLINE_S), "the worker answers every batch"
    finally:
        ahead.close()
    computed = len(cache)
    # 240 hourly and 60 four-hourly frames per symbol, and the ones before the start.
    assert computed >= 2 * (240 + 60)

    run = await run_backtest(SPEC, source_in(recording), frames=cache, prefill=False)

    assert len(cache) == computed, "the loop missed no frame: it computed none itself"
    assert cache.hits >= 2 * (240 + 60)
    assert trades(run) == trades(plain)
    assert decisions(run) == decisions(plain)


async def test_a_dead_worker_costs_time_not_results(
    recording: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain = await run_backtest(SPEC, source_in(recording), prefill=False)
    cache = FrameCache()
    ahead = await start_prefill(recording, cache)
    try:
        os.kill(ahead.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="app.market_data.frames"):
            assert ahead.wait(WORKER_DEADLINE_S)  # every batch fails once the pipe closes
        run = await run_backtest(SPEC, source_in(recording), frames=cache, prefill=False)
    finally:
        ahead.close()

    assert "indicator frames ahead of the loop failed" in caplog.text

    assert trades(run) == trades(plain)
    assert decisions(run) == decisions(plain)
    assert cache.hits == 0


async def test_a_run_that_starts_its_own_worker_trades_the_same(recording: Path) -> None:
    plain = await run_backtest(SPEC, source_in(recording), prefill=False)

    ahead = await run_backtest(SPEC, source_in(recording), prefill=True)

    assert ahead.frames is not None  # kept for the run's decision replays
    assert trades(ahead) == trades(plain)
    assert decisions(ahead) == decisions(plain)


def test_the_worker_imports_no_pydantic_web_or_database_code() -> None:
    """The worker starts while the run is set up: it imports what a frame needs, no more."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from app.market_data.prefill_worker import main; "
            "print(sorted({m.partition('.')[0] for m in sys.modules} "
            "& {'pydantic', 'fastapi', 'sqlalchemy', 'httpx'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=WORKER_DEADLINE_S,
    )

    assert probe.stdout.strip() == "[]"
