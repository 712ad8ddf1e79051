"""The ``trading-agent`` command (also ``python -m app.main``).

Bare ``trading-agent`` (with ``--replay``, ``--check-config``...) serves; the subcommands in
:mod:`app.commands` (``backtest``, ``backfill``, ``replay-decisions``) run once and exit.
"""

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from app import __version__
from app.application import configured_app
from app.commands import backfill, backtest, replay_decisions
from app.config import Settings
from app.core.errors import ConfigError
from app.listener import bind_or_exit, serve
from app.runtime.container import RuntimeOptions
from app.runtime.market_source import check_market

logger = logging.getLogger("app")

COMMANDS: tuple[ModuleType, ...] = (backtest, backfill, replay_decisions)
"""The subcommand modules in ``--help`` order (see :mod:`app.commands`)."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="trading-agent",
        description="LLM trading agent for AsterDEX perpetual futures. "
        "Configuration comes from the environment and .env (see .env.example).",
    )
    parser.add_argument("--host", help="listen address (default: API_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: API_PORT)")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="paper-trade offline on the bundled historical candles",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration as startup would (assets against the market data"
        " too), print a summary without secrets, and exit",
    )
    parser.add_argument("--version", action="version", version=f"trading-agent {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="run once and exit instead of serving"
    )
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Validate configuration (exit 2 on error), then serve until interrupted."""
    args = build_parser().parse_args(argv)
    for command in COMMANDS:
        if args.command == command.NAME:
            raise SystemExit(command.run(args))
    app, settings = configured_app(RuntimeOptions(replay=args.replay))
    if args.check_config:
        market = _market_or_exit(settings, replay=args.replay)
        for account in settings.accounts:
            print(
                f"account {account.id}: {account.trading_mode.value}, model {account.llm_model},"
                f" assets {','.join(account.assets)}, leverage {account.leverage}"
            )
        print(f"database: {settings.database.url.split('://')[0]}")
        print(f"market data: {market}")
        return
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    # The port first: a busy one must end this process before the lifespan migrates the
    # database or starts any agent.
    sock = bind_or_exit(host, port)
    logger.info(
        "trading-agent %s listening on http://%s:%d (docs at /docs)", __version__, host, port
    )
    serve(app, sock)


def _market_or_exit(settings: Settings, *, replay: bool) -> str:
    """Startup's market data checks (assets, replay recording), or one line each and exit 2."""
    if not settings.agents_enabled:
        return "not checked (AGENTS_ENABLED=false: startup checks no assets either)"
    try:
        return asyncio.run(check_market(settings, replay=replay))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None
