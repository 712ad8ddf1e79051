"""The listening socket, taken before the service does any work.

uvicorn binds its port only after the lifespan has run: a second instance on a busy port
would migrate the database and start its agents before failing. ``trading-agent`` binds
(and listens) first, so a busy port ends the process before anything else happens.
"""

import contextlib
import errno
import socket
import sys

import uvicorn
from fastapi import FastAPI

STARTUP_FAILURE = 3  # uvicorn's own exit status when the application does not start


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
        SystemExit: With uvicorn's status 3 when the application did not start.
    """
    config = uvicorn.Config(app, log_config=None, proxy_headers=False)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how a user stops it
        server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
