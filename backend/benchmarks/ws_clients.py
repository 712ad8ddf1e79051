"""WebSocket subscribers of the fan-out benchmark: one process holds many of them.

``python -m benchmarks.ws_clients URL --clients N --messages M`` (``backend/`` on
``PYTHONPATH``) opens N connections with ``websockets.asyncio.client`` (bearer token on the
upgrade request, at most ``--connecting`` handshakes at a time), subscribes each to
``account.default.events`` and waits for its ``subscribed`` reply and its ``snapshot``. It
then prints ``{"ready": ..., "failed": ...}`` and waits for M ``bench.tick`` events on each
connection (or ``--timeout``), timing each one on arrival against the publish time in its
data (``time.time_ns()``: one clock for every process of the machine). Last it prints one
JSON line of results, latencies in microseconds, and exits.
"""

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from benchmarks.serving import CHANNEL, TOKEN, raise_open_files

CONNECTING: Final = 50
SUBSCRIBE_TRIES: Final = 3


@dataclass
class Results:
    """One process's measurements (printed as JSON)."""

    clients: int
    expected: int
    received: int = 0
    closed_early: int = 0
    subscribe_retries: int = 0
    first_publish_ns: int = 0
    last_receive_ns: int = 0
    latencies_us: list[int] = field(default_factory=list)


async def _subscribe(ws: ClientConnection, results: Results) -> None:
    text = json.dumps({"type": "subscribe", "channels": [CHANNEL]})
    for _ in range(SUBSCRIBE_TRIES):
        await ws.send(text)
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "snapshot":
                return
            if message["type"] == "error":  # e.g. snapshot_unavailable: try again
                results.subscribe_retries += 1
                break
    raise RuntimeError(f"could not subscribe after {SUBSCRIBE_TRIES} tries")


async def _open(
    url: str, compression: bool, gate: asyncio.Semaphore, results: Results
) -> ClientConnection:
    async with gate:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {TOKEN}"},
            compression="deflate" if compression else None,
            open_timeout=120,
            ping_interval=None,
            close_timeout=10,
            max_size=None,
        )
        try:
            await _subscribe(ws, results)
        except BaseException:
            await ws.close()
            raise
        return ws


async def _listen(ws: ClientConnection, messages: int, results: Results) -> None:
    got = 0
    try:
        while got < messages:
            raw = await ws.recv()
            now = time.time_ns()
            message = json.loads(raw)
            if message.get("type") != "event":
                continue  # heartbeats
            sent: int = message["data"]["t"]
            results.latencies_us.append((now - sent) // 1000)
            if not results.first_publish_ns or sent < results.first_publish_ns:
                results.first_publish_ns = sent
            results.last_receive_ns = max(results.last_receive_ns, now)
            got += 1
    except ConnectionClosed:
        results.closed_early += 1
    finally:
        results.received += got


async def _run(
    url: str, clients: int, messages: int, timeout_s: float, compression: bool, connecting: int
) -> Results:
    results = Results(clients=clients, expected=clients * messages)
    gate = asyncio.Semaphore(connecting)
    opened = await asyncio.gather(
        *(_open(url, compression, gate, results) for _ in range(clients)), return_exceptions=True
    )
    sockets = [ws for ws in opened if isinstance(ws, ClientConnection)]
    failures = [repr(e) for e in opened if isinstance(e, BaseException)]
    _emit({"ready": len(sockets), "failed": len(failures), "failures": failures[:3]})
    listening = [asyncio.create_task(_listen(ws, messages, results)) for ws in sockets]
    if listening:
        _done, late = await asyncio.wait(listening, timeout=timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return results


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Open the clients, report readiness, collect the events, print the results."""
    parser = argparse.ArgumentParser(description="WebSocket subscribers for bench_ws_fanout")
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all")
    parser.add_argument("--connecting", type=int, default=CONNECTING, help="handshakes at once")
    parser.add_argument("--no-compression", action="store_true")
    args = parser.parse_args(argv)
    raise_open_files()
    try:
        results = uvloop.run(
            _run(
                args.url,
                args.clients,
                args.messages,
                args.timeout,
                not args.no_compression,
                args.connecting,
            )
        )
    except (OSError, InvalidHandshake) as exc:
        _emit({"error": repr(exc)})
        raise SystemExit(1) from exc
    _emit(asdict(results))


if __name__ == "__main__":
    main()
