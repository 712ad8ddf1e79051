"""``trading-agent backtest``: the live loop over history, with a progress bar and a report.

Example::

    trading-agent backtest --data backend/tests/candles --assets BTC,ETH,SOL
        --from 2025-11-01 --to 2025-12-01 --set LEVERAGE=3 --out reports/nov

Dates without a time zone are UTC. Without ``--data`` the candles come from the database
(``trading-agent backfill`` fills it).
"""

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from app.backtest.engine import BacktestRun, Progress, RunStatus, SourceFactory, run_backtest
from app.backtest.metrics import BacktestMetrics, metrics_json
from app.backtest.results import summarize, write_run_report
from app.backtest.sources import csv_source, database_source
from app.backtest.spec import BacktestSpec, CachePolicy, ProviderKind, parse_assignments
from app.commands import Subparsers
from app.commands.database import command_database
from app.commands.progress import ProgressReporter
from app.config import load_settings
from app.core.errors import ConfigError
from app.indicators.schemas import IndicatorConfig
from app.llm.cache import ReplyStore, SqlReplyStore

NAME = "backtest"


def add_parser(subparsers: Subparsers) -> None:
    """The command's arguments."""
    parser = subparsers.add_parser(
        NAME,
        help="run the agent over historical candles and write a report",
        description="Run the live agent loop over historical candles on a paper exchange: "
        "same decisions, risk engine and order handling as live trading, on a simulated clock.",
    )
    parser.add_argument("--from", dest="start", required=True, type=_when, help="first decision")
    parser.add_argument("--to", dest="end", required=True, type=_when, help="end (exclusive)")
    parser.add_argument("--assets", default="BTC,ETH,SOL", help="comma-separated (BTC,ETH,SOL)")
    parser.add_argument("--interval", default="1h", help="decision interval (1h)")
    parser.add_argument("--long-interval", default="4h", help="higher timeframe (4h)")
    parser.add_argument(
        "--provider", choices=[p.value for p in ProviderKind], default=ProviderKind.RULES.value
    )
    parser.add_argument("--model", help="LLM model (default: LLM_MODEL)")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any setting by its environment name, e.g. --set MAX_DAILY_LOSS_PCT=3",
    )
    parser.add_argument("--balance", type=Decimal, default=Decimal(10_000), help="USDT (10000)")
    parser.add_argument("--data", type=Path, help="directory of <SYMBOL>-<interval>.csv candles")
    parser.add_argument("--out", type=Path, help="report directory (backtests/<run id>)")
    parser.add_argument(
        "--cache", choices=[c.value for c in CachePolicy], default=CachePolicy.USE.value
    )
    parser.add_argument("--max-cost-usd", type=Decimal, help="stop once the LLM spend reaches it")
    parser.add_argument("--title", help="the report's title")


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time: {text!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def spec_of(args: argparse.Namespace) -> BacktestSpec:
    """The request the arguments make.

    Raises:
        ConfigError: A malformed ``--set``.
    """
    return BacktestSpec(
        start=args.start,
        end=args.end,
        assets=tuple(a.strip() for a in args.assets.split(",") if a.strip()),
        interval=args.interval,
        long_interval=args.long_interval,
        provider=ProviderKind(args.provider),
        model=args.model,
        settings=parse_assignments(args.settings),
        balance=args.balance,
        data_dir=args.data,
        cache=CachePolicy(args.cache),
        max_cost_usd=args.max_cost_usd,
        title=args.title,
    )


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run the backtest; 0 when it ran (to the end or a cost cap), 2 on a bad request."""
    stream = out or sys.stdout
    try:
        return asyncio.run(_run(spec_of(args), args.out, stream))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"backtest: {problem}", file=sys.stderr)
        return 2
    except (InvalidOperation, ValueError) as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 2


async def _run(spec: BacktestSpec, out_dir: Path | None, stream: TextIO) -> int:
    needs_database = spec.data_dir is None or spec.provider is ProviderKind.LLM
    if not needs_database:
        return await _backtest(spec, csv_source(spec.data_dir or Path()), None, out_dir, stream)
    settings = load_settings()
    async with command_database(settings) as sessions:
        if spec.data_dir is not None:
            source_of = csv_source(spec.data_dir)
        else:
            source_of = await database_source(
                sessions,
                spec.assets,
                (spec.interval, spec.long_interval),
                start=spec.start,
                end=spec.end,
                warmup_bars=max(settings.backfill_bars, IndicatorConfig().warmup_bars),
            )
        # LLM replies are kept in the service's database: a rerun asks nothing twice.
        replies = SqlReplyStore(sessions) if spec.provider is ProviderKind.LLM else None
        return await _backtest(spec, source_of, replies, out_dir, stream)


async def _backtest(
    spec: BacktestSpec,
    source_of: SourceFactory,
    replies: ReplyStore | None,
    out_dir: Path | None,
    stream: TextIO,
) -> int:
    def announce(line: str) -> None:
        print(line, file=stream, flush=True)

    with ProgressReporter("backtest") as reporter:

        async def progress(p: Progress) -> None:
            reporter.advance(p.ticks, p.total_ticks, p.fields())

        result = await run_backtest(
            spec, source_of, on_progress=progress, replies=replies, announce=announce
        )
    inputs, metrics = await summarize(result)
    files = write_run_report(result, out_dir or Path("backtests") / result.run_id, inputs)
    print_summary(result, metrics, stream)
    print(f"report: {files.html_path} (data: {files.json_path})", file=stream)
    return 0 if result.status in (RunStatus.COMPLETED, RunStatus.COST_CAP) else 1


def print_summary(run: BacktestRun, metrics: BacktestMetrics, stream: TextIO) -> None:
    """The metrics as a two-column table (rounded for reading; the report keeps them whole)."""
    rows = [("run", run.run_id), ("status", run.status.value)]
    for name, value in metrics_json(metrics).items():
        if name == "max_drawdown_duration_s" and isinstance(value, int | float):
            rows.append(("max_drawdown_duration", str(timedelta(seconds=int(value)))))
        else:
            rows.append((name, _shown(value)))
    rows += [("note", note) for note in run.notes]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}", file=stream)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    if isinstance(value, float) or (isinstance(value, str) and "." in value):
        try:
            return f"{float(value):,.2f}"
        except ValueError:
            return str(value)
    return str(value)
