"""The listening socket, taken before the service does any work.

uvicorn binds its port only after the lifespan has run: a second instance on a busy port
would migrate the database and start its agents before failing. ``trading-agent`` binds
(and listens) first, so a busy port ends the process before anything else happens.
"""

import contextlib
import errno
import logging
import socket
import sys

import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from app.lifespan import startup_refusal

STARTUP_FAILURE = 3  # uvicorn's own exit status when the application does not start
STARTUP_REFUSED = 2  # the configuration or the database refused it: fixable, no traceback


class ListenError(Exception):
    """The address cannot be listened on; the message is the one line to show."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and already listening.

    Listening at once (not only bound) matters on Linux: two sockets with ``SO_REUSEADDR``
    may both bind one port as long as neither listens, so binding alone reserves nothing.

    Raises:
        ListenError: The port is in use, or the address cannot be used.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Reuse a port whose previous owner's connections linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"port {port} is in use on {host} (is another instance running? choose"
                " another port with --port or API_PORT)"
            ) from exc
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def bind_or_exit(host: str, port: int) -> socket.socket:
    """:func:`bind_listener`, or print its one-line reason and exit with status 2."""
    try:
        return bind_listener(host, port)
    except ListenError as exc:
        print(f"startup failed: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on the listening ``sock`` until interrupted.

    Raises:
        SystemExit: With status 2 when startup refused (an unknown asset, an unreachable
            database: its one-line reasons are logged, no traceback), or uvicorn's status 3
            when the application did not start for another reason.
    """
    config = uvicorn.Config(_QuietRefusal(app), log_config=None, proxy_headers=False)
    server = uvicorn.Server(config)
    quiet = _DropGenericFailure(app)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(quiet)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a user stops it
            server.run(sockets=[sock])
    except SystemExit:
        if server.started or not startup_refusal(app):
            raise
        # uvicorn exits with its own status 3 when the lifespan fails: ours says "refused"
    finally:
        uvicorn_log.removeFilter(quiet)
    if not server.started:
        raise SystemExit(STARTUP_REFUSED if startup_refusal(app) else STARTUP_FAILURE)


class _QuietRefusal:
    """``app`` for uvicorn, minus the traceback of a startup refusal (its lines are logged).

    Starlette reports any lifespan exception with its formatted traceback, which uvicorn
    logs: 50 lines around the one that matters. A bug still shows its traceback.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and startup_refusal(self.app):
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, quiet_send)


class _DropGenericFailure(logging.Filter):
    """Drops uvicorn's "Application startup failed. Exiting." after a logged refusal."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        generic = record.getMessage().startswith("Application startup failed")
        return not (generic and startup_refusal(self.app))
