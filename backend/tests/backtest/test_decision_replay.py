"""Decision replay: recorded decisions re-judged under other settings, with no LLM call."""

import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert

from app.backtest.account_history import account_history
from app.backtest.engine import BacktestRun, RunStatus, run_backtest
from app.backtest.metrics import metrics_json
from app.backtest.recorded import from_journal
from app.backtest.replay import replay_decisions, replay_run
from app.backtest.spec import BacktestSpec
from app.cli import build_parser
from app.commands import replay_decisions as command
from app.core.clock import Clock
from app.market_data.replay import ReplayMarketData
from app.records.memory_records import JournalDecision
from app.trading.models import Account, Decision, DecisionLeg
from app.trading.runs import ACCOUNT_RUN
from tests.backtest.data import END, START, write_recording
from tests.db import Database

SPEC = BacktestSpec(START, END, ("BTC", "ETH"), interval="1h", long_interval="4h")


def source_in(directory: Path) -> Callable[[Clock], ReplayMarketData]:
    def build(clock: Clock) -> ReplayMarketData:
        return ReplayMarketData(clock, directory)

    return build


def fills(run: BacktestRun) -> list[tuple[object, ...]]:
    return [
        (f.symbol, f.side, f.quantity, f.price, f.fee, f.realized_pnl, f.filled_at)
        for f in run.journal.fill_records
    ]


def llm_calls(run: BacktestRun) -> int:
    return sum(len(d.calls) for d in run.journal.decisions)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("recording"))


@pytest.fixture
async def original(recording: Path) -> BacktestRun:
    run = await run_backtest(SPEC, source_in(recording))
    assert run.status is RunStatus.COMPLETED
    assert run.journal.fill_records, "the rules trade in ten days of real BTC and ETH"
    return run


async def test_unchanged_settings_reproduce_the_original_trades(original: BacktestRun) -> None:
    result = await replay_run(original, {})

    replayed = result.replay.run
    assert replayed.status is RunStatus.COMPLETED
    assert fills(replayed) == fills(original)
    assert [e.equity for e in replayed.journal.equity] == [
        e.equity for e in original.journal.equity
    ]
    assert llm_calls(replayed) == 0
    assert result.served == len(original.journal.decisions)
    assert result.missing == 0
    # The decisions are the original ones, provider and model included.
    assert [(d.candle_time, d.provider, d.model, d.status) for d in replayed.journal.decisions] == [
        (d.candle_time, d.provider, d.model, d.status) for d in original.journal.decisions
    ]
    assert all(m.delta in (None, 0) for m in result.comparison())


async def test_a_tighter_limit_shrinks_every_entry(original: BacktestRun) -> None:
    limit = Decimal(500)
    result = await replay_run(original, {"MAX_POSITION_SIZE_USD": str(limit)})

    replayed = result.replay.run
    assert llm_calls(replayed) == 0
    entries = [t for t in result.replay.trades if t.purpose == "entry"]
    before = [t for t in result.original.trades if t.purpose == "entry"]
    assert entries
    assert before
    # Notional at the fill: a little room for the fill's slippage beyond the mark.
    assert all(t.quantity * t.price <= limit * Decimal("1.01") for t in entries)
    assert max(t.quantity * t.price for t in before) > limit * 2
    assert [(t.symbol, t.at) for t in entries][:3] == [(t.symbol, t.at) for t in before][:3]
    assert sum(t.quantity for t in entries) < sum(t.quantity for t in before)
    # The comparison shows both sides.
    table = {m.name: m for m in result.comparison()}
    assert table["end_equity"].original == metrics_json(result.original.metrics)["end_equity"]
    assert table["end_equity"].replay == metrics_json(result.replay.metrics)["end_equity"]
    assert table["fees"].delta is not None
    assert table["fees"].delta < 0
    document = result.to_json()
    assert document["settings"] == {"MAX_POSITION_SIZE_USD": "500"}
    assert document["original_run_id"] == original.run_id


async def test_a_cycle_without_a_record_holds(original: BacktestRun, recording: Path) -> None:
    recorded = from_journal(original.journal.decisions)
    kept = recorded[: len(recorded) // 2]
    result = await replay_decisions(SPEC, kept, {}, source_in(recording))

    assert result.served == len(kept)
    assert result.missing == len(recorded) - len(kept)
    held = result.replay.run.journal.decisions[len(kept) :]
    assert all(d.status == "hold_all" and d.provider == "replay" for d in held)
    assert all(t.at < held[0].created_at for t in result.replay.trades if t.purpose == "entry")
    # Without the original at hand, the baseline is the same records under its settings.
    assert fills(result.original.run) == fills(result.replay.run)


async def test_an_accounts_decisions_are_read_from_the_database(
    pg: Database, original: BacktestRun, recording: Path
) -> None:
    """The account's own run is read back from SQL and replays to the same trades."""
    await _journal_decisions(pg, original.journal.decisions, account_id="acc1")
    await _journal_decisions(
        pg, original.journal.decisions[:5], account_id="acc1", run_id="backtest-other"
    )

    history = await account_history(pg.sessions, "acc1", "1h", assets=("BTC", "ETH"))

    assert len(history.decisions) == len(original.journal.decisions)
    assert history.start == START
    assert history.end == END
    assert history.decisions == from_journal(original.journal.decisions)
    spec = BacktestSpec(history.start, history.end, ("BTC", "ETH"))
    result = await replay_decisions(spec, history.decisions, {}, source_in(recording))
    assert fills(result.replay.run) == fills(original)
    assert llm_calls(result.replay.run) == 0


async def test_the_command_replays_an_account_beside_its_original(
    pg: Database,
    original: BacktestRun,
    recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _journal_decisions(pg, original.journal.decisions, account_id="default")
    monkeypatch.setenv("DATABASE_URL", pg.url)
    monkeypatch.setenv("ASSETS", "BTC,ETH")
    out, saved = io.StringIO(), tmp_path / "replay.json"
    argv = ["replay-decisions", "--source", "account:default", "--data", str(recording)]
    argv += ["--set", "MAX_POSITION_SIZE_USD=500", "--out", str(saved)]

    status = await command.run_async(build_parser().parse_args(argv), out=out)

    assert status == 0
    lines = [line.split() for line in out.getvalue().splitlines()]
    assert lines[0] == ["settings", "changed:", "MAX_POSITION_SIZE_USD=500"]
    assert lines[1] == ["metric", "original", "replay", "delta"]
    table = {row[0]: row[1:] for row in lines[2:]}
    assert table["decisions"][:2] == ["240", "240"]
    assert table["fills"] == [str(len(original.journal.fill_records)), table["fills"][1]]
    document = json.loads(saved.read_text())
    assert document["served"] == len(original.journal.decisions)
    fees = next(m for m in document["metrics"] if m["name"] == "fees")
    assert Decimal(fees["delta"]) < 0


@pytest.mark.parametrize(
    ("source", "message"),
    [("backtest-1", "expected account:ID"), ("account:nobody", "no recorded decision")],
)
async def test_the_command_refuses_a_source_without_decisions(
    pg: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
    message: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg.url)
    argv = ["replay-decisions", "--source", source]

    status = await command.run_async(build_parser().parse_args(argv))

    assert status == 2
    assert message in capsys.readouterr().err


async def _journal_decisions(
    pg: Database,
    decisions: tuple[JournalDecision, ...],
    *,
    account_id: str,
    run_id: str = ACCOUNT_RUN,
) -> None:
    """Write ``decisions`` as the account's rows (the SQL journal's shape, legs unordered)."""
    async with pg.sessions() as session, session.begin():
        if await session.get(Account, account_id) is None:
            session.add(Account(id=account_id, trading_mode="paper"))
        await session.flush()
        for d in decisions:
            row = Decision(
                run_id=run_id,
                account_id=account_id,
                provider=d.provider,
                model=d.model,
                prompt_version=d.prompt_version,
                candle_time=d.candle_time,
                status=d.status,
                summary=d.summary,
                parsed=d.parsed,
                validation_error=d.validation_error,
                created_at=d.created_at,
            )
            session.add(row)
            await session.flush()
            if d.legs:
                await session.execute(
                    insert(DecisionLeg),
                    [
                        {
                            "decision_id": row.id,
                            "symbol": leg.symbol,
                            "action": leg.action,
                            "requested": leg.requested,
                            "approved": leg.approved,
                            "adjustments": leg.adjustments,
                            "status": leg.status,
                            "created_at": d.created_at,
                        }
                        for leg in d.legs
                    ],
                )
