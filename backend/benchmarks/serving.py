"""The servers of the HTTP and WebSocket benchmarks, each run in a process of its own.

``python -m benchmarks.serving KIND`` (``backend/`` on ``PYTHONPATH``) serves on a free
127.0.0.1 port, prints ``{"port": N}`` on stdout once it accepts connections, and stops on
SIGINT or SIGTERM. KIND is:

* ``service``: the real app, ``create_app(load_settings(...), RuntimeOptions(replay=True))``
  configured by the environment the benchmark gives it, plus ``GET /bench/publish`` (see
  below);
* ``bare``: a FastAPI app with nothing but ``GET /bare`` -> ``{"ok": true}``;
* ``ws-raw``: a bare ``websockets`` server: it answers the ``subscribe`` message as ``/ws``
  does (``subscribed`` then a ``snapshot``), and sends events with ``broadcast()``.

Both FastAPI apps run on uvicorn configured as ``trading-agent`` runs it (``uvicorn.run``
defaults: uvloop, httptools, websockets-sansio with permessage-deflate), except that access
logs are off. The raw WebSocket server runs on uvloop too, with its default compression.

``GET /bench/publish?count=M&rate=R&pad=P`` (service and ws-raw) starts publishing M events
on ``account.default.events`` and returns at once: R events a second, or as fast as possible
(yielding to the event loop between events) when R is 0. Each event's data is
``{"i": index, "t": time.time_ns() at publish, "pad": "x" * P}``.

The parent side is :class:`ServerProcess`.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qs, urlsplit

import uvicorn
import uvloop
from fastapi import FastAPI, Request
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

BACKEND: Final = Path(__file__).resolve().parent.parent
CHANNEL: Final = "account.default.events"
EVENT: Final = "bench.tick"
TOKEN: Final = "bench-token-0123456789abcdef"
KINDS: Final = ("service", "bare", "ws-raw")
START_TIMEOUT_S: Final = 180.0
STOP_TIMEOUT_S: Final = 30.0

type Publish = Callable[[dict[str, Any]], None]


def raise_open_files() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def base_env() -> dict[str, str]:
    """The environment of a fresh shell for a child process: PATH and HOME, nothing of ours."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return env | {"PYTHONPATH": str(BACKEND), "PYTHONUNBUFFERED": "1"}


def service_env(workdir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """A clean environment for a benchmark server: nothing of the caller's configuration.

    The service gets ``API_TOKEN``, a SQLite file in ``workdir`` unless ``database_url`` is
    given, its agents enabled on a fast replay, warnings-only logs and no config watching;
    ``extra`` overrides any of it.
    """
    env = base_env()
    env.update(
        DATABASE_URL=database_url or f"sqlite:///{workdir / 'bench.db'}",
        API_TOKEN=TOKEN,
        AGENTS_ENABLED="true",
        AUTO_MIGRATE="true",
        REPLAY_SPEED="200000",
        LOG_LEVEL="WARNING",
        ENVIRONMENT="development",
        CONFIG_WATCH_ENABLED="false",
    )
    env.update(extra)
    return env


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted, non-empty list."""
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


async def _publisher(publish: Publish, count: int, rate: float, pad: int) -> None:
    padding = "x" * pad
    start = time.perf_counter()
    for index in range(count):
        publish({"i": index, "t": time.time_ns(), "pad": padding})
        if rate > 0:
            await asyncio.sleep(max(0.0, start + (index + 1) / rate - time.perf_counter()))
        else:
            await asyncio.sleep(0)


def _query(target: str) -> tuple[int, float, int]:
    query = parse_qs(urlsplit(target).query)
    count = int(query.get("count", ["100"])[0])
    rate = float(query.get("rate", ["0"])[0])
    pad = int(query.get("pad", ["0"])[0])
    return count, rate, pad


def _announce(port: int) -> None:
    print(json.dumps({"port": port}), flush=True)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def bare_app() -> FastAPI:
    """The baseline HTTP app: one JSON endpoint."""
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


def service_app() -> FastAPI:
    """The real app from the environment, in replay mode, plus ``GET /bench/publish``."""
    from app.config import load_settings
    from app.main import create_app
    from app.runtime.container import RuntimeOptions

    app = create_app(load_settings(use_default_env_file=False), RuntimeOptions(replay=True))
    running: set[asyncio.Task[None]] = set()

    async def publish(request: Request, count: int = 100, rate: float = 0.0, pad: int = 0) -> Any:
        bus = request.state.container.bus

        def one(data: dict[str, Any]) -> None:
            bus.publish(CHANNEL, EVENT, data)

        task = asyncio.create_task(_publisher(one, count, rate, pad))
        running.add(task)
        task.add_done_callback(running.discard)
        return {"started": count}

    app.add_api_route("/bench/publish", publish, methods=["GET"], include_in_schema=False)
    return app


async def _serve_uvicorn(app: FastAPI) -> None:
    sock = _listening_socket()
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.01)
    _announce(sock.getsockname()[1])
    await task


def event_text(channel: str, seq: int, data: dict[str, Any]) -> str:
    """An ``event`` message shaped as ``/ws`` sends it, for the raw WebSocket server."""
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    message = {"type": "event", "channel": channel, "seq": seq, "event": EVENT, "at": at}
    return json.dumps({**message, "data": data}, separators=(",", ":"))


async def _serve_ws_raw() -> None:
    clients: set[ServerConnection] = set()
    running: set[asyncio.Task[None]] = set()
    seq = 0
    expected = f"Bearer {TOKEN}"

    def publish(data: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        broadcast(clients, event_text(CHANNEL, seq, data))

    async def handler(connection: ServerConnection) -> None:
        if connection.request is None or connection.request.headers.get("Authorization") != (
            expected
        ):
            await connection.close(4401, "not authenticated")
            return
        message = json.loads(await connection.recv())
        channels = message["channels"]
        await connection.send(json.dumps({"type": "subscribed", "channels": channels}))
        for channel in channels:
            snapshot = {"type": "snapshot", "channel": channel, "seq": seq, "data": None}
            await connection.send(json.dumps({**snapshot, "resync": False}))
        clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    def process_request(connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        if not request.path.startswith("/bench/publish"):
            return None
        count, rate, pad = _query(request.path)
        task = asyncio.create_task(_publisher(publish, count, rate, pad))
        running.add(task)
        task.add_done_callback(running.discard)
        body = json.dumps({"started": count}).encode()
        headers = Headers([("Content-Type", "application/json"), ("Connection", "close")])
        return WsResponse(HTTPStatus.OK, "OK", headers, body)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sock = _listening_socket()
    server: Server
    async with serve(handler, sock=sock, process_request=process_request, backlog=2048) as server:
        _announce(sock.getsockname()[1])
        await stop.wait()
        server.close(close_connections=True)


def main(argv: list[str] | None = None) -> None:
    """Serve the chosen KIND until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="a benchmark server (prints its port)")
    parser.add_argument("kind", choices=KINDS)
    kind = parser.parse_args(argv).kind
    raise_open_files()
    if kind == "ws-raw":
        uvloop.run(_serve_ws_raw())
    else:
        uvloop.run(_serve_uvicorn(service_app() if kind == "service" else bare_app()))


class ServerProcess:
    """One benchmark server in a child process, for an ``async with`` block.

    Args:
        kind: One of :data:`KINDS`.
        env: The child's whole environment (see :func:`service_env`).
        workdir: Its working directory; its stderr goes to ``<kind>.log`` there.
    """

    def __init__(self, kind: str, env: dict[str, str], workdir: Path) -> None:
        self.kind = kind
        self._env = env
        self._workdir = workdir
        self.log = workdir / f"{kind}.log"
        self._process: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> Self:
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.serving",
                self.kind,
                cwd=self._workdir,
                env=self._env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self._process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                line = await self._process.stdout.readline()
            self.port = int(json.loads(line)["port"])
        except (TimeoutError, ValueError, KeyError) as exc:
            await self._stop()
            raise RuntimeError(f"the {self.kind} server did not start: {self.tail()}") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far (Linux ``/proc``)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, chars: int = 2000) -> str:
        """The end of the child's stderr."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


if __name__ == "__main__":
    main()
