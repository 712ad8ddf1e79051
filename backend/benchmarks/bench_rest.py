"""REST reads under concurrent load: the service against a bare FastAPI endpoint.

Ours: ``GET /api/v1/accounts/default/positions`` and ``GET .../decisions?limit=50`` of the
real service (``create_app`` in replay mode, its lifespan, agents on; SQLite in a temporary
directory unless ``--database-url``). Baseline: a FastAPI app with one ``GET /bare`` ->
``{"ok": true}``. Both are served the same way: uvicorn as ``trading-agent`` runs it, each in
a process of its own (``benchmarks.serving``), on loopback.

Before measuring, the replay runs fast until a full decisions page (and, when one comes, an
open position) exists; then the agent is paused so it does not compete for the CPU.

The load generator (this process, uvloop) keeps ``concurrency`` keep-alive connections
busy: each sends one request, reads the whole response, and sends the next (closed loop),
for ``duration / rounds`` seconds per target and round; targets alternate within each round
so that drift in the machine's speed hits all of them alike. Every request carries the same
bearer token. Reported per target: req/s, p50 / p99 / max latency, errors (any status but
200 or a dropped connection) and the serving process's CPU time per request.

Ratios: service req/s / baseline req/s (goal >= 0.5) and service p99 / baseline p99 (goal
<= 2), for each endpoint.

Run alone: ``cd backend && uv run python -m benchmarks.bench_rest --help``.
"""

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import uvloop

from benchmarks.serving import TOKEN, ServerProcess, percentile, raise_open_files, service_env
from benchmarks.timing import machine, versus

CONCURRENCY: Final = 200
DURATION_S: Final = 6.0
ROUNDS: Final = 3
WARMUP_S: Final = 1.0
SEED_TIMEOUT_S: Final = 90.0
POSITION_WAIT_S: Final = 30.0
GOAL_THROUGHPUT: Final = 0.5
GOAL_P99: Final = 2.0
PAGE: Final = 50
POSITIONS: Final = "/api/v1/accounts/default/positions"
DECISIONS: Final = f"/api/v1/accounts/default/decisions?limit={PAGE}"
AGENT: Final = "/api/v1/accounts/default/agent"


@dataclass
class Sample:
    """What one target's load produced, summed over rounds."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    seconds: float = 0.0
    response_bytes: int = 0
    server_cpu_s: float = 0.0

    @property
    def errors(self) -> int:
        """Responses other than 200, and connections the server dropped."""
        return self.dropped + sum(n for status, n in self.statuses.items() if status != 200)

    def report(self) -> dict[str, Any]:
        """Throughput and latency, rounded for the report."""
        ordered = sorted(self.latencies)
        count = len(ordered)
        if not count:
            return {"requests": 0, "errors": self.errors}
        return {
            "requests": count,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "req_per_s": round(count / self.seconds, 1),
            "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3),
            "response_bytes": self.response_bytes,
            "server_cpu_us_per_request": round(self.server_cpu_s / count * 1e6, 1),
        }


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")


type Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _exchange(streams: Streams, request: bytes) -> tuple[int, int]:
    """Send one request and read its whole response: (status, body length)."""
    reader, writer = streams
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    body = await reader.readexactly(_content_length(head))
    return int(head[9:12]), len(body)


async def _connect(port: int, request: bytes) -> Streams:
    # One untimed request: the server has accepted the connection before the clock starts
    # (200 connections opened at once are otherwise accepted over a few hundred ms while
    # the first ones are already served, and the last ones' first request waits).
    streams = await asyncio.open_connection("127.0.0.1", port)
    await _exchange(streams, request)
    return streams


async def _worker(streams: Streams, request: bytes, stop_at: float, sample: Sample) -> None:
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            status, size = await _exchange(streams, request)
            sample.latencies.append(time.perf_counter() - start)
            sample.statuses[status] = sample.statuses.get(status, 0) + 1
            sample.response_bytes = size
    except (asyncio.IncompleteReadError, ConnectionError):
        sample.dropped += 1
    finally:
        streams[1].close()


async def load(
    server: ServerProcess, path: str, concurrency: int, seconds: float, sample: Sample
) -> None:
    """Keep ``concurrency`` connections busy on ``path`` for ``seconds``; add to ``sample``.

    Connections are opened (and each has answered one request) before the clock starts;
    the time counted runs until the last in-flight request has been answered.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    connections = await asyncio.gather(
        *(_connect(server.port, request) for _ in range(concurrency))
    )
    cpu = server.cpu_seconds()
    start = time.perf_counter()
    await asyncio.gather(
        *(_worker(streams, request, start + seconds, sample) for streams in connections)
    )
    sample.seconds += time.perf_counter() - start
    sample.server_cpu_s += server.cpu_seconds() - cpu


async def seed(client: httpx.AsyncClient) -> dict[str, Any]:
    """Let the replay trade until a decisions page is full and a position open, then pause.

    A position is waited for ``POSITION_WAIT_S`` at most: the rules may open none.

    Returns:
        What exists when the agent is paused.

    Raises:
        RuntimeError: No full decisions page within ``SEED_TIMEOUT_S``.
    """
    (await client.post(f"{AGENT}/start")).raise_for_status()  # a previous run may have paused it
    start = time.monotonic()
    decisions = positions = 0
    while time.monotonic() < start + SEED_TIMEOUT_S:
        decisions = len((await client.get(DECISIONS)).json()["items"])
        positions = len((await client.get(POSITIONS)).json())
        if decisions >= PAGE and (positions or time.monotonic() > start + POSITION_WAIT_S):
            break
        await asyncio.sleep(0.5)
    paused = (await client.post(f"{AGENT}/pause")).raise_for_status().json()
    if decisions < PAGE:
        raise RuntimeError(f"only {decisions} decisions after {SEED_TIMEOUT_S:g} s of replay")
    await asyncio.sleep(2.5)  # past the positions endpoint's 2 s cache of the exchange view
    return {
        "decisions_page_items": len((await client.get(DECISIONS)).json()["items"]),
        "open_positions": len((await client.get(POSITIONS)).json()),
        "agent": paused["state"],
        "seed_s": round(time.monotonic() - start, 1),
    }


async def measure(
    concurrency: int = CONCURRENCY,
    duration_s: float = DURATION_S,
    rounds: int = ROUNDS,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Serve both apps, seed the service, load every target; return the report."""
    raise_open_files()
    with tempfile.TemporaryDirectory(prefix="ta-bench-rest-") as tmp:
        workdir = Path(tmp)
        env = service_env(workdir, database_url)
        async with (
            ServerProcess("bare", env, workdir) as bare,
            ServerProcess("service", env, workdir) as service,
        ):
            base = f"http://127.0.0.1:{service.port}"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
                seeded = await seed(client)
            idle_cpu = service.cpu_seconds()
            await asyncio.sleep(1.0)
            seeded["service_idle_cpu_pct"] = round((service.cpu_seconds() - idle_cpu) * 100, 1)
            targets = [("bare", bare, "/bare"), ("positions", service, POSITIONS)]
            targets.append(("decisions", service, DECISIONS))
            samples = {name: Sample() for name, _, _ in targets}
            for _name, server, path in targets:
                await load(server, path, concurrency, WARMUP_S, Sample())
            for index in range(rounds):
                shift = index % len(targets)
                for name, server, path in targets[shift:] + targets[:shift]:
                    await load(server, path, concurrency, duration_s / rounds, samples[name])
    return _report(samples, seeded, concurrency, duration_s, rounds, database_url)


def _report(
    samples: dict[str, Sample],
    seeded: dict[str, Any],
    concurrency: int,
    duration_s: float,
    rounds: int,
    database_url: str | None,
) -> dict[str, Any]:
    results = {name: sample.report() for name, sample in samples.items()}
    base = results["bare"]
    ratios = {
        name: versus(
            results[name],
            base,
            "req_per_s",
            complete=results[name].get("errors") == 0 and base.get("errors") == 0,
            min_rate_ratio=GOAL_THROUGHPUT,
            max_p99_ratio=GOAL_P99,
        )
        for name in ("positions", "decisions")
    }
    return {
        "benchmark": "rest",
        "goal": (
            f"each endpoint: req/s >= {GOAL_THROUGHPUT} x and p99 <= {GOAL_P99:g} x the bare"
            f" FastAPI endpoint's, at {concurrency} connections, no errors"
        ),
        "met": all(ratio["met"] for ratio in ratios.values()),
        "ratios": ratios,
        "targets": results,
        "concurrency": concurrency,
        "seconds_per_target": duration_s,
        "rounds": rounds,
        "database": (database_url or "sqlite").split("://")[0].split("+")[0],
        "seeded": seeded,
        "machine": machine(),
    }


def run(
    concurrency: int = CONCURRENCY,
    duration_s: float = DURATION_S,
    rounds: int = ROUNDS,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Measure and return the report (on a uvloop event loop, like the servers)."""
    return uvloop.run(measure(concurrency, duration_s, rounds, database_url))


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="connections")
    parser.add_argument(
        "--duration", type=float, default=DURATION_S, help="seconds of load per target"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="alternations of targets")
    parser.add_argument(
        "--database-url", help="the service's DATABASE_URL (default: SQLite in a temp dir)"
    )
    args = parser.parse_args(argv)
    report = run(args.concurrency, args.duration, args.rounds, args.database_url)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
