"""An in-process uvicorn server for the fakes: no signal handling, and a stop in milliseconds."""

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from websockets.exceptions import InvalidState

GRACEFUL_SHUTDOWN_S = 3.0


class EmbeddedServer(uvicorn.Server):
    """uvicorn tuned for tests: no signal handling, and a stop that takes milliseconds.

    Stock uvicorn polls ``should_exit`` every 0.1 s and sleeps 0.1 s steps while shutting
    down; with one server per test that adds up, so exit is an event and the drain polls
    every 10 ms.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        # The test runner owns the process's signals.
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter += 10  # on_tick refreshes the Date header on multiples of 10
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            try:
                connection.shutdown()
            except InvalidState:
                # A browser's close crossed ours: uvicorn's sans-I/O WebSocket protocol then
                # raises instead of sending its own close. The client is leaving anyway.
                connection.transport.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACEFUL_SHUTDOWN_S
        state = self.server_state
        # uvicorn offers no event for "all connections gone": poll its bookkeeping.
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for task in state.tasks:
            task.cancel()


class LoopbackServer:
    """Serves one ASGI app on a free 127.0.0.1 port, in-process, for a fake's lifetime.

    Args:
        app: The ASGI callable.
        name: Used in the error raised when the server does not come up.
        ws: uvicorn's WebSocket implementation (``"none"`` for HTTP-only fakes).
    """

    def __init__(self, app: Any, *, name: str, ws: str = "none") -> None:
        self._app = app
        self._name = name
        self._ws = ws
        self._server: EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    async def start(self) -> int:
        """Bind, serve, and return the port once connections are accepted."""
        # IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted sockets; without it every
        # response pays a ~40 ms Nagle/delayed-ACK stall.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
            proxy_headers=False,
            http="h11",
            ws=self._ws,
            ws_ping_interval=300.0,
            ws_ping_timeout=900.0,
        )
        self._server = EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError(f"the fake {self._name} server did not start")
            await asyncio.sleep(0.005)
        return self.port

    async def stop(self) -> None:
        """Finish in-flight requests and stop (idempotent)."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        self._server = None
        server.should_exit = True
        server.exit_requested.set()
        await task
        if self._socket is not None:
            self._socket.close()
        self.port = 0
