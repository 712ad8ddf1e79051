"""A loopback TCP proxy that can cut and restore a connection path, for outage tests.

Point the code under test at the proxy instead of the real server (PostgreSQL, say), then
pull the plug and put it back::

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for(database_url)      # same URL, host 127.0.0.1 and proxy.port
        ...                                    # the service talks to the database
        await proxy.cut()                      # every open connection is reset, and new
        ...                                    # connects get ECONNREFUSED
        await proxy.restore()                  # listening again, on the same port
        ...

Interface (kept stable: fault-injection campaigns build on it):

- ``TcpProxy(target_host, target_port, *, host="127.0.0.1")``: nothing runs until
  ``start()`` or ``async with``, which bind a free port on ``host``.
- ``port``: the listening port (0 before the first start); it never changes afterwards.
- ``await cut()``: close the listening socket (connects are refused, not left hanging)
  and reset every open connection, both towards the client and towards the target. Idempotent.
- ``await restore()``: listen again on the same port. Idempotent.
- ``is_cut``: True between ``cut()`` and ``restore()``.
- ``connections``: the number of client connections being forwarded now.
- ``url_for(url)``: ``url`` (any SQLAlchemy/libpq-style URL) with host and port set to the
  proxy's.
- ``await close()`` (or leaving ``async with``): stop for good.

The proxy runs in the event loop that started it (a test's), so it serves a service
running in the same loop or in a subprocess alike, as long as that loop keeps running
(await something; a blocking call in the test stalls the proxy too).
"""

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

_CHUNK = 65536
# SO_LINGER on, timeout 0: close() sends RST, as a crashed server or a dropped path would.
_RESET = struct.pack("ii", 1, 0)


class TcpProxy:
    """Forwards TCP connections from a loopback port to ``target_host:target_port``.

    Args:
        target_host: Where connections are forwarded to.
        target_port: The target's port.
        host: The interface the proxy listens on.
    """

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._host = host
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.WriteTransport] = set()
        self._closed = False
        self.port = 0

    @property
    def is_cut(self) -> bool:
        """True while connections are refused (after ``cut()``, before ``restore()``)."""
        return self._server is None

    @property
    def connections(self) -> int:
        """Client connections being forwarded now."""
        return len(self._handlers)

    async def start(self) -> None:
        """Listen on a free port of ``host`` (then always the same port)."""
        await self._listen()

    async def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._drop_connections()
        if server is not None:
            await server.wait_closed()

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._closed:
            raise RuntimeError("the proxy is closed")
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        """Stop for good: like ``cut()``, and ``restore()`` is refused afterwards."""
        self._closed = True
        await self.cut()

    def url_for(self, url: str) -> str:
        """``url`` pointing at the proxy: host and port replaced, everything else kept."""
        proxied = make_url(url).set(host=self._host, port=self.port)
        return proxied.render_as_string(hide_password=False)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _listen(self) -> None:
        # reuse_address: connections reset by cut() may leave TIME_WAIT entries on the port.
        self._server = await asyncio.start_server(
            self._accept, self._host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _drop_connections(self) -> None:
        for transport in list(self._transports):
            _reset(transport)
        handlers = list(self._handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._transports.add(writer.transport)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            pass  # cut(): the transports are already reset
        finally:
            self._handlers.discard(handler)
            self._transports.discard(writer.transport)
            writer.transport.abort()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(writer.transport)  # the target is down: the client sees a reset
            return
        self._transports.add(upstream_writer.transport)
        try:
            directions = (
                asyncio.create_task(_pump(reader, upstream_writer)),
                asyncio.create_task(_pump(upstream_reader, writer)),
            )
            try:
                await asyncio.gather(*directions)
            except OSError:
                # One side reset: the other must not wait for data that cannot come.
                _reset(writer.transport)
                _reset(upstream_writer.transport)
            finally:
                for direction in directions:
                    direction.cancel()
                await asyncio.gather(*directions, return_exceptions=True)
        finally:
            self._transports.discard(upstream_writer.transport)
            upstream_writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until end of stream, then half-close ``writer``."""
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof() and not writer.transport.is_closing():
        writer.write_eof()


def _reset(transport: asyncio.WriteTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    transport.abort()
