"""``trading-agent backfill``: AsterDEX history into the database, for longer backtests.

Stores closed klines, mark-price klines and funding rates of the given assets and
intervals over a date window (:mod:`app.market_data.backfill`), with a progress bar on a
terminal and plain lines otherwise. Running it again resumes where it stopped; over a
window already stored it sends no history request.

Exit status: 0 done; 1 the exchange or the database failed (what was stored stays; run it
again to resume); 2 bad arguments or configuration (one line each on stderr, nothing written).
"""

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlalchemy.exc import SQLAlchemyError

from app.commands import Subparsers
from app.commands.progress import ProgressReporter
from app.config import Settings, load_settings
from app.core.clock import Clock, SystemClock
from app.core.errors import ConfigError, DatabaseError
from app.db.engine import create_engine
from app.db.migrate import schema_state, upgrade_to_head
from app.db.session import create_session_factory
from app.exchange.errors import ExchangeError
from app.exchange.http.client import AsterdexClient
from app.market_data.backfill import BACKFILL_INTERVALS, BackfillPlan, backfill
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.symbols import UnknownAssetError, resolve_assets

NAME: Final = "backfill"
_ASSET: Final = re.compile(r"^[A-Za-z0-9]{1,28}$")


class BackfillArgumentError(ValueError):
    """An argument of ``backfill`` that cannot be used (reported on one line, exit 2)."""


@dataclass(frozen=True, slots=True)
class BackfillArguments:
    """The command's arguments, checked.

    Attributes:
        start: First instant of the window (UTC).
        end: End of the window, exclusive (UTC).
        assets: Asset names as given (``BTC``).
        intervals: Kline intervals.
    """

    start: datetime
    end: datetime
    assets: tuple[str, ...]
    intervals: tuple[str, ...]


def add_parser(subparsers: Subparsers) -> None:
    """Register ``backfill`` and its arguments."""
    parser = subparsers.add_parser(
        NAME,
        help="store AsterDEX klines, mark-price klines and funding rates for a date window",
        description="Fill the database (DATABASE_URL) with closed AsterDEX klines, mark-price "
        "klines and funding rates, so backtests can cover more than the bundled sample. "
        "Resumable and idempotent: run it again to continue or to check.",
    )
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="DATE",
        help="first day (YYYY-MM-DD, UTC) or an ISO time",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="DATE",
        help="last day, included (YYYY-MM-DD), or an ISO time, excluded (default: now)",
    )
    parser.add_argument(
        "--assets", metavar="LIST", help="comma-separated assets, e.g. BTC,ETH (default: ASSETS)"
    )
    parser.add_argument(
        "--intervals",
        metavar="LIST",
        help="comma-separated kline intervals, e.g. 1h,4h (default: INTERVAL,LONG_INTERVAL)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the backfill as the command line asked; the exit status."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(run_backfill(args, settings))


async def run_backfill(
    args: argparse.Namespace, settings: Settings, *, clock: Clock | None = None
) -> int:
    """:func:`run` inside a running event loop, with settings already loaded.

    Args:
        args: The parsed ``backfill`` arguments.
        settings: The configuration (database, AsterDEX base URL, default assets).
        clock: What "now" is (which bars have closed); the system clock by default.
    """
    clock = clock or SystemClock()
    try:
        checked = check_arguments(args, settings, now=clock.now())
    except BackfillArgumentError as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        return 2
    async with AsterdexClient(base_url=settings.exchange.base_url, clock=clock) as client:
        try:
            symbols = resolve_assets(checked.assets, await ExchangeMarketData(client).symbols())
        except UnknownAssetError as exc:
            print(f"backfill: {exc}", file=sys.stderr)
            return 2
        except ExchangeError as exc:
            print(f"backfill: cannot list the exchange's symbols: {exc}", file=sys.stderr)
            return 1
        plan = BackfillPlan(
            symbols=tuple(dict.fromkeys(symbols.values())),
            intervals=checked.intervals,
            start=checked.start,
            end=checked.end,
        )
        return await _store(plan, client, settings, clock)


async def _store(
    plan: BackfillPlan, client: AsterdexClient, settings: Settings, clock: Clock
) -> int:
    engine = create_engine(settings.database.url)
    try:
        if settings.database.auto_migrate:
            await upgrade_to_head(engine)
        elif not (await schema_state(engine)).at_head:
            print(
                "backfill: the database schema is not at head and AUTO_MIGRATE is off",
                file=sys.stderr,
            )
            return 1
        label = f"backfill {','.join(plan.symbols)} {','.join(plan.intervals)}"
        with ProgressReporter(label) as progress:
            result = await backfill(
                plan, client, create_session_factory(engine), clock, progress=progress.advance
            )
    except (ExchangeError, DatabaseError, SQLAlchemyError, OSError) as exc:
        print(f"backfill stopped: {exc} (run it again to resume)", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(
        f"backfill done: {result.candles} candles, {result.mark_candles} mark-price candles, "
        f"{result.funding_rates} funding rates stored ({result.requests} requests)",
        file=sys.stderr,
    )
    return 0


def check_arguments(
    args: argparse.Namespace, settings: Settings, *, now: datetime
) -> BackfillArguments:
    """The arguments, checked against each other and against ``now``.

    Raises:
        BackfillArgumentError: A date, asset or interval cannot be used.
    """
    start = _moment(args.start, "--from", end_of_day=False)
    end = now if args.end is None else _moment(args.end, "--to", end_of_day=True)
    if start >= now:
        raise BackfillArgumentError(f"--from {args.start} is in the future: nothing has closed")
    if start >= end:
        raise BackfillArgumentError(
            f"--from {args.start} is not before --to {args.end}: the window is empty"
        )
    assets = _list(args.assets) if args.assets is not None else tuple(settings.assets)
    bad_assets = [a for a in assets if not _ASSET.match(a)]
    if not assets or bad_assets:
        raise BackfillArgumentError(
            f"--assets must list asset names such as BTC,ETH (got {args.assets!r})"
        )
    intervals = (
        _list(args.intervals) if args.intervals is not None else settings.market_data.intervals
    )
    unknown = [i for i in intervals if i not in BACKFILL_INTERVALS]
    if not intervals or unknown:
        raise BackfillArgumentError(
            f"unknown interval(s) {', '.join(unknown) or repr(args.intervals)}: "
            f"use {', '.join(BACKFILL_INTERVALS)}"
        )
    return BackfillArguments(start, end, assets, intervals)


def _list(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _moment(value: str, option: str, *, end_of_day: bool) -> datetime:
    """A day (its start, or the next day's start when it ends the window) or an ISO time."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BackfillArgumentError(
            f"{option} {value!r} is not a date (YYYY-MM-DD) or an ISO time"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
