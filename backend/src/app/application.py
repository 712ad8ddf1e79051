"""The FastAPI application, assembled: routes, middleware, error handlers and lifespan.

``create_app()`` only assembles; settings are read, the database opened and the agents
started by the lifespan. Both ways in use it: :mod:`app.main` (``uvicorn app.main:app``,
``python -m app.main``) and :mod:`app.cli` (``trading-agent``).
"""

import sys

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.api.docs import install_docs
from app.api.edge import LimitBody, RequireToken
from app.api.errors import install_error_handlers
from app.api.fast_reads import FastReads
from app.api.router import router
from app.config import Settings, load_settings
from app.core.errors import ConfigError
from app.core.logging import configure_logging
from app.lifespan import make_lifespan
from app.runtime.container import RuntimeOptions
from app.web import install_dashboard

DESCRIPTION = """
An LLM trading agent for AsterDEX perpetual futures.

For every account and every candle interval the agent pulls closed candles, computes
indicators, asks a model for a structured decision, passes it through the risk engine,
executes the approved orders with exchange-side protection and records every step.

* `/`: the web dashboard (paste a token once). `/health`: liveness. `/ready`: database,
  migrations and TimescaleDB state (open).
* Everything under `/api/v1` needs `Authorization: Bearer <token>` (**Authorize** above):
  `API_TOKEN` may do anything, `API_READ_TOKEN` only read (403 on changes). Errors always
  have the shape `{"error": code, "detail": message}`; lists take `limit`, `cursor`,
  `start` and `end` and return `{"items": [...], "next_cursor": ...}`, newest first.
* `/ws` (WebSocket, not listed below): the live event stream, protocol in
  [docs/websocket.md](https://github.com/trading-agent/trading-agent/blob/main/docs/websocket.md).
"""


def create_app(settings: Settings | None = None, options: RuntimeOptions | None = None) -> FastAPI:
    """Assemble the application.

    Args:
        settings: Validated settings; when None they are loaded from the environment at
            startup (a bad configuration then fails the startup).
        options: Command-line choices such as ``--replay``.
    """

    def settings_provider() -> Settings:
        return settings if settings is not None else load_settings()

    app = FastAPI(
        title="trading-agent",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # install_docs: the same pages without a CDN
        redoc_url=None,
        lifespan=make_lifespan(settings_provider, options or RuntimeOptions()),
    )
    install_error_handlers(app)
    # Outermost last: CORS, then the token (from headers only), then the body cap, then the
    # cached reads; so nothing reads a body or looks up an account for an unknown caller.
    app.add_middleware(FastReads)  # inside CORS, so cached answers get its headers too
    app.add_middleware(LimitBody)
    app.add_middleware(RequireToken)
    if settings is not None and settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.include_router(router)
    install_docs(app)
    install_dashboard(app)
    return app


def settings_or_exit() -> Settings:
    """Load settings; on a bad configuration print one line per problem and exit with 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def configured_app(options: RuntimeOptions | None = None) -> tuple[FastAPI, Settings]:
    """Load settings (or exit 2), configure logging, and create the app."""
    settings = settings_or_exit()
    configure_logging(
        settings.log_level,
        json_lines=settings.environment == "production",
        secrets=settings.secret_values(),
    )
    return create_app(settings, options), settings
