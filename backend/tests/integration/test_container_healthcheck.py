"""compose.yaml's health check for the service, run as written (its port aside) against the
real service on loopback: it passes while the service answers and fails when nothing does."""

import asyncio
import socket
import sys

from app.runtime.container import RuntimeOptions
from tests.service import serve
from tests.unit.test_project_files import backend_healthcheck


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_check(port: int) -> int:
    command = backend_healthcheck()
    assert command[:2] == ["CMD", "python"]
    # The container listens on 3000; here the service has whatever port was free.
    script = command[-1].replace("127.0.0.1:3000/", f"127.0.0.1:{port}/")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[2:-1],
        script,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_compose_health_check_passes_on_the_running_service() -> None:
    async with serve(RuntimeOptions(replay=True)) as running:
        port = int(running.base_url.rsplit(":", 1)[1])

        assert await run_check(port) == 0


async def test_the_compose_health_check_fails_when_nothing_answers() -> None:
    assert await run_check(closed_port()) != 0
