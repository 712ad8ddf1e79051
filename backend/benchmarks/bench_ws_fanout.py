"""WebSocket fan-out: the service's ``/ws`` against a raw ``websockets`` broadcast server.

Ours: the real service (``create_app`` in replay mode with its lifespan; the agent paused by
``AGENT_PAUSED`` so only the stream works) on uvicorn, in a process of its own. Every client
authenticates by header and subscribes to ``account.default.events``; events are published
through the app's own ``EventBus`` by a task inside the server process
(``GET /bench/publish``, see ``benchmarks.serving``). Baseline: a ``websockets.asyncio``
server on uvloop that answers the same ``subscribe`` with ``subscribed`` and a ``snapshot``
and sends each event with ``broadcast()`` as the same JSON ``event`` message.

The same clients (``benchmarks.ws_clients``: ``websockets.asyncio.client`` on uvloop, spread
over ``client_procs`` processes) connect and subscribe to each server; once all are
subscribed, the server publishes ``messages`` events, as fast as it can (``rate`` 0) or at
``rate`` events a second, each carrying its publish time. Latency = receive time - publish
time, over every delivery; messages/s = deliveries / (last receive - first publish).

Ratios: service messages/s / baseline messages/s (goal >= 0.5) and service p99 / baseline
p99 (goal <= 2), with every event delivered to every client.

Run alone: ``cd backend && uv run python -m benchmarks.bench_ws_fanout --help``.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import httpx
import uvloop

from benchmarks.serving import (
    ServerProcess,
    base_env,
    percentile,
    raise_open_files,
    service_env,
)
from benchmarks.timing import machine, versus

CLIENTS: Final = 1000
MESSAGES: Final = 200
RATE: Final = 0.0
CLIENT_PROCS: Final = 2
PAD: Final = 100
READY_TIMEOUT_S: Final = 180.0
DELIVERY_TIMEOUT_S: Final = 120.0
GOAL_THROUGHPUT: Final = 0.5
GOAL_P99: Final = 2.0
LINE_LIMIT: Final = 1 << 28


async def _start_clients(
    url: str, shares: list[int], messages: int, timeout_s: float, compression: bool, workdir: Path
) -> list[asyncio.subprocess.Process]:
    env = base_env()
    children = []
    for index, share in enumerate(shares):
        args = ["--clients", str(share), "--messages", str(messages), "--timeout", str(timeout_s)]
        if not compression:
            args.append("--no-compression")
        with (workdir / f"clients-{index}.log").open("ab") as log:
            children.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "benchmarks.ws_clients",
                    url,
                    *args,
                    cwd=workdir,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    limit=LINE_LIMIT,
                )
            )
    return children


async def _line(
    child: asyncio.subprocess.Process, timeout_s: float, workdir: Path
) -> dict[str, Any]:
    assert child.stdout is not None
    async with asyncio.timeout(timeout_s):
        line = await child.stdout.readline()
    payload: dict[str, Any] = json.loads(line) if line else {"error": "no output"}
    if "error" in payload:
        raise RuntimeError(f"a client process failed: {payload['error']}; {_logs(workdir)}")
    return payload


def _logs(workdir: Path, chars: int = 2000) -> str:
    logs = [log.read_text(errors="replace") for log in sorted(workdir.glob("clients-*.log"))]
    return "".join(logs)[-chars:]


async def fan_out(
    server: ServerProcess,
    clients: int,
    messages: int,
    rate: float,
    client_procs: int,
    compression: bool,
    workdir: Path,
) -> dict[str, Any]:
    """Connect the clients to ``server``, publish, collect; return one target's numbers."""
    procs = max(1, min(client_procs, clients))
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    publishing_s = messages / rate if rate > 0 else 0.0
    timeout_s = DELIVERY_TIMEOUT_S + publishing_s
    url = f"ws://127.0.0.1:{server.port}/ws"
    children = await _start_clients(url, shares, messages, timeout_s, compression, workdir)
    try:
        ready = [await _line(child, READY_TIMEOUT_S, workdir) for child in children]
        connected = sum(r["ready"] for r in ready)
        if connected < clients:
            failures = [f for r in ready for f in r["failures"]]
            raise RuntimeError(f"{connected} of {clients} clients subscribed: {failures}")
        cpu = server.cpu_seconds()
        params = {"count": messages, "rate": rate, "pad": PAD}
        async with httpx.AsyncClient(timeout=30) as http:
            started = await http.get(f"http://127.0.0.1:{server.port}/bench/publish", params=params)
        started.raise_for_status()
        parts = [await _line(child, timeout_s + 30, workdir) for child in children]
        cpu = server.cpu_seconds() - cpu
        for child in children:
            await child.wait()
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    return _summary(parts, cpu)


def _summary(parts: list[dict[str, Any]], server_cpu_s: float) -> dict[str, Any]:
    latencies = sorted(us for part in parts for us in part["latencies_us"])
    received = sum(part["received"] for part in parts)
    expected = sum(part["expected"] for part in parts)
    summary: dict[str, Any] = {
        "clients": sum(part["clients"] for part in parts),
        "deliveries": received,
        "missing": expected - received,
        "closed_early": sum(part["closed_early"] for part in parts),
        "subscribe_retries": sum(part["subscribe_retries"] for part in parts),
    }
    if not latencies:
        return summary
    first = min(part["first_publish_ns"] for part in parts if part["first_publish_ns"])
    last = max(part["last_receive_ns"] for part in parts)
    seconds = (last - first) / 1e9
    return summary | {
        "messages_per_s": round(received / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) / 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) / 1000, 3),
        "max_ms": round(latencies[-1] / 1000, 3),
        "first_publish_to_last_delivery_s": round(seconds, 3),
        "server_cpu_s": round(server_cpu_s, 3),
        "server_cpu_us_per_delivery": round(server_cpu_s / received * 1e6, 2),
    }


async def measure(
    clients: int = CLIENTS,
    messages: int = MESSAGES,
    rate: float = RATE,
    client_procs: int = CLIENT_PROCS,
    compression: bool = True,
) -> dict[str, Any]:
    """Fan out from the baseline server, then from the service; return the report."""
    raise_open_files()
    with tempfile.TemporaryDirectory(prefix="ta-bench-ws-") as tmp:
        workdir = Path(tmp)
        results: dict[str, dict[str, Any]] = {}
        for name, kind in (("baseline", "ws-raw"), ("service", "service")):
            env = service_env(workdir, None, AGENT_PAUSED="true")
            async with ServerProcess(kind, env, workdir) as server:
                results[name] = await fan_out(
                    server, clients, messages, rate, client_procs, compression, workdir
                )
    return _report(results, clients, messages, rate, client_procs, compression)


def _report(
    results: dict[str, dict[str, Any]],
    clients: int,
    messages: int,
    rate: float,
    client_procs: int,
    compression: bool,
) -> dict[str, Any]:
    ours, base = results["service"], results["baseline"]
    ratios = versus(
        ours,
        base,
        "messages_per_s",
        complete=ours.get("missing") == 0 and base.get("missing") == 0,
        min_rate_ratio=GOAL_THROUGHPUT,
        max_p99_ratio=GOAL_P99,
    )
    return {
        "benchmark": "ws_fanout",
        "goal": (
            f"messages/s >= {GOAL_THROUGHPUT} x and p99 <= {GOAL_P99:g} x a raw websockets"
            f" broadcast server's, {clients} subscribers, every event delivered"
        ),
        "met": ratios["met"],
        "ratios": ratios,
        "targets": results,
        "clients": clients,
        "messages": messages,
        "rate_per_s": rate or "max",
        "payload_pad_bytes": PAD,
        "client_procs": client_procs,
        "permessage_deflate": compression,
        "machine": machine(),
    }


def run(
    clients: int = CLIENTS,
    messages: int = MESSAGES,
    rate: float = RATE,
    client_procs: int = CLIENT_PROCS,
    compression: bool = True,
) -> dict[str, Any]:
    """Measure and return the report (on a uvloop event loop, like the servers)."""
    return uvloop.run(measure(clients, messages, rate, client_procs, compression))


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=CLIENTS, help="subscribers")
    parser.add_argument("--messages", type=int, default=MESSAGES, help="events published")
    parser.add_argument(
        "--rate", type=float, default=RATE, help="events per second (0: as fast as possible)"
    )
    parser.add_argument(
        "--client-procs", type=int, default=CLIENT_PROCS, help="processes holding the clients"
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="clients offer no permessage-deflate"
    )
    args = parser.parse_args(argv)
    report = run(args.clients, args.messages, args.rate, args.client_procs, not args.no_compression)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
