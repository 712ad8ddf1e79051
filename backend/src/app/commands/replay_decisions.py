"""``trading-agent replay-decisions``: recorded decisions re-judged under other settings.

Example::

    trading-agent replay-decisions --source account:main --set MAX_POSITION_SIZE_USD=500

Every decision the account recorded is handed to the risk engine again under the changed
settings and re-simulated on the same candles (the database's, or ``--data``), with no LLM
call; the summary shows the original and the replay side by side. For an account the
original side is its decisions replayed under its current settings: live fills are not
simulated ones, so only a replay of both sides differs by the settings alone.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from app.backtest import store
from app.backtest.account_history import AccountHistory, account_history
from app.backtest.engine import Progress, RunStatus, SourceFactory
from app.backtest.recorded import NoRecordedDecisions, RecordedDecision, from_stored
from app.backtest.replay import ReplayResult, replay_decisions
from app.backtest.sources import csv_source, database_source
from app.backtest.spec import BacktestSpec, parse_assignments, spec_of_description
from app.commands import Subparsers
from app.commands.database import command_database
from app.commands.progress import ProgressReporter
from app.config import AccountSettings, Settings, load_settings
from app.core.errors import ConfigError
from app.db.session import SessionFactory, session_scope
from app.indicators.schemas import IndicatorConfig

NAME = "replay-decisions"

_SOURCES = ("account", "backtest")


def add_parser(subparsers: Subparsers) -> None:
    """The command's arguments."""
    parser = subparsers.add_parser(
        NAME,
        help="re-judge recorded decisions under other settings (no LLM call)",
        description="Hand every recorded decision of an account to the risk engine again "
        "under other settings, re-simulate it on the same candles, and show the result beside "
        "the original. No model is asked.",
    )
    parser.add_argument(
        "--source",
        required=True,
        metavar="account:ID|backtest:ID",
        help="whose decisions: an account's, or a finished backtest's (its run id)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting to change, by its environment name, e.g. --set LEVERAGE=2",
    )
    parser.add_argument("--data", type=Path, help="candles from <SYMBOL>-<interval>.csv files")
    parser.add_argument("--out", type=Path, help="write the comparison as JSON to this file")


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Replay; 0 when both sides ran to the end, 1 when one did not, 2 on a bad request."""
    return asyncio.run(run_async(args, out=out))


async def run_async(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """:func:`run` in a running event loop."""
    stream = out or sys.stdout
    try:
        kind, _, name = args.source.partition(":")
        if kind not in _SOURCES or not name:
            raise ConfigError([f"--source {args.source!r}: expected account:ID or backtest:ID"])
        overrides = parse_assignments(args.settings)
        if kind == "backtest":
            result = await _replay_backtest(name, overrides, args.data)
        else:
            result = await _replay(name, overrides, args.data)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{NAME}: {problem}", file=sys.stderr)
        return 2
    except NoRecordedDecisions as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 2
    return finish(result, args.out, stream)


def finish(result: ReplayResult, out_path: Path | None, stream: TextIO) -> int:
    """Print the comparison (and write it to ``out_path``); the exit status."""
    print_comparison(result, stream)
    if out_path is not None:
        out_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"comparison: {out_path}", file=stream)
    done = {result.original.run.status, result.replay.run.status}
    return 0 if done == {RunStatus.COMPLETED} else 1


async def _replay(
    account_id: str, overrides: dict[str, str], data_dir: Path | None
) -> ReplayResult:
    settings = load_settings()
    async with command_database(settings) as sessions:
        account = _account(settings, account_id)
        assets = tuple(account.assets) if account is not None else tuple(settings.assets)
        history = await account_history(sessions, account_id, settings.interval, assets=assets)
        spec = account_spec(settings, account, history, assets)
        source_of = await _candles(sessions, settings, spec, data_dir)
        return await _with_progress(spec, history.decisions, overrides, source_of)


async def _replay_backtest(
    run_id: str, overrides: dict[str, str], data_dir: Path | None
) -> ReplayResult:
    """A stored backtest's decisions, on its own candles (or ``data_dir``'s)."""
    settings = load_settings()
    async with command_database(settings) as sessions:
        async with session_scope(sessions) as session:
            row = await store.get_run(session, run_id)
            _, stored = await store.get_series(session, run_id, "decisions")
        if row is None:
            raise ConfigError([f"--source backtest:{run_id}: no such backtest"])
        if stored is None:
            raise ConfigError([f"--source backtest:{run_id}: the run has not finished"])
        spec = spec_of_description(row.config)
        if data_dir is None and spec.data_dir is not None:
            data_dir = spec.data_dir
        source_of = await _candles(sessions, settings, spec, data_dir)
        return await _with_progress(spec, from_stored(stored), overrides, source_of)


async def _with_progress(
    spec: BacktestSpec,
    decisions: Sequence[RecordedDecision],
    overrides: dict[str, str],
    source_of: SourceFactory,
) -> ReplayResult:
    with ProgressReporter(NAME) as reporter:

        async def progress(p: Progress) -> None:
            reporter.advance(p.ticks, p.total_ticks, p.fields())

        return await replay_decisions(spec, decisions, overrides, source_of, on_progress=progress)


def _account(settings: Settings, account_id: str) -> AccountSettings | None:
    return next((a for a in settings.accounts if a.id == account_id), None)


def account_spec(
    settings: Settings,
    account: AccountSettings | None,
    history: AccountHistory,
    assets: Sequence[str],
) -> BacktestSpec:
    """The backtest an account's decisions replay in: their window, its settings and balance.

    The account's own leverage and position cap (per-account variables in a multi-account
    setup) become the original side's settings; the replay's ``--set`` goes on top.
    """
    own: dict[str, str] = {}
    if account is not None:
        own = {
            "LEVERAGE": str(account.leverage),
            "MAX_POSITION_SIZE_USD": str(account.max_position_size_usd),
        }
    balance = history.balance if history.balance is not None else settings.paper_balance_usd
    return BacktestSpec(
        start=history.start,
        end=history.end,
        assets=tuple(assets),
        interval=settings.interval,
        long_interval=settings.long_interval,
        settings=own,
        balance=Decimal(balance),
        title=f"account {account.id if account else ''} decisions",
    )


async def _candles(
    sessions: SessionFactory, settings: Settings, spec: BacktestSpec, data_dir: Path | None
) -> SourceFactory:
    if data_dir is not None:
        return csv_source(data_dir)
    return await database_source(
        sessions,
        spec.assets,
        (spec.interval, spec.long_interval),
        start=spec.start,
        end=spec.end,
        warmup_bars=max(settings.backfill_bars, IndicatorConfig().warmup_bars),
    )


def print_comparison(result: ReplayResult, stream: TextIO) -> None:
    """Both sides' metrics in columns, with the replay's difference."""
    rows = [("metric", "original", "replay", "delta")]
    for metric in result.comparison():
        if isinstance(metric.original, dict):
            continue  # buy-and-hold: the same candles on both sides
        rows.append(
            (metric.name, _shown(metric.original), _shown(metric.replay), _shown(metric.delta))
        )
    rows.append(("fills", str(len(result.original.trades)), str(len(result.replay.trades)), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    changed = ", ".join(f"{k}={v}" for k, v in result.settings.items()) or "(none)"
    print(f"settings changed: {changed}", file=stream)
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)),
            file=stream,
        )
    for note in result.notes:
        print(f"note: {note}", file=stream)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | Decimal) or (isinstance(value, str) and "." in value):
        try:
            return f"{float(value):,.2f}"
        except ValueError:
            return str(value)
    return str(value)
