"""An in-process uvicorn server for the fakes: no signal handling, and a stop in milliseconds."""

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn

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
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GRACEFUL_SHUTDOWN_S
        state = self.server_state
        # uvicorn offers no event for "all connections gone": poll its bookkeeping.
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for task in state.tasks:
            task.cancel()
