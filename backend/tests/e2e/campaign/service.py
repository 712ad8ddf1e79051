"""The service under test as a real subprocess: started, killed with SIGKILL, restarted.

Its output goes to one log file for all its lives (each start writes a banner line), so a
failing campaign can print what the service said around the step that broke.
"""

import asyncio
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.conftest import BIN_DIR, free_port

STARTUP_BUDGET_S = 30.0


class ServiceDied(AssertionError):
    """The service exited (or never became healthy) when the campaign did not kill it."""


@dataclass(frozen=True, slots=True)
class Downtime:
    """One stretch during which the service was not running, in server epoch ms."""

    start_ms: int
    end_ms: int | None


def wall_ms() -> int:
    """Wall-clock epoch milliseconds (the fakes' server time)."""
    return time.time_ns() // 1_000_000


class ServiceProcess:
    """``trading-agent`` in a subprocess on a fresh loopback port per life.

    Args:
        env: The whole environment of the process (``API_PORT`` is added per life).
        workdir: Its working directory (no ``.env`` there).
        log_path: Where stdout and stderr of every life are appended.
    """

    def __init__(self, env: Mapping[str, str], workdir: Path, log_path: Path) -> None:
        self._env = dict(env)
        self._workdir = workdir
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self.lives = 0
        self.base_url = ""
        self.downtime: list[Downtime] = []

    @property
    def running(self) -> bool:
        """Whether the current life's process is alive."""
        return self._process is not None and self._process.returncode is None

    async def start(self, budget_s: float = STARTUP_BUDGET_S) -> float:
        """Start a new life and wait until ``/health`` answers 200; returns seconds taken.

        Raises:
            ServiceDied: The process exited, or stayed unhealthy past ``budget_s``.
        """
        if self.running:
            raise RuntimeError("the service is already running")
        port = free_port()
        self.lives += 1
        with self._log_path.open("ab") as log:
            log.write(
                f"\n===== campaign: service life {self.lives} on port {port} =====\n".encode()
            )
            log.flush()
            self._process = await asyncio.create_subprocess_exec(
                str(BIN_DIR / "trading-agent"),
                cwd=self._workdir,
                env={**self._env, "API_PORT": str(port)},
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        self.base_url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        await self._wait_healthy(started, budget_s)
        self._end_downtime()
        return time.monotonic() - started

    async def _wait_healthy(self, started: float, budget_s: float) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=1.0) as client:
            while time.monotonic() - started < budget_s:
                assert self._process is not None
                if self._process.returncode is not None:
                    raise ServiceDied(
                        f"service life {self.lives} exited with {self._process.returncode} "
                        "before it became healthy"
                    )
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise ServiceDied(f"service life {self.lives}: /health not 200 within {budget_s} s")

    async def kill(self) -> None:
        """SIGKILL the current life (no shutdown code runs) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        self.downtime.append(Downtime(wall_ms(), None))
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()  # SIGKILL cannot be caught: this returns at once

    def _end_downtime(self) -> None:
        if self.downtime and self.downtime[-1].end_ms is None:
            self.downtime[-1] = Downtime(self.downtime[-1].start_ms, wall_ms())

    def check_alive(self) -> None:
        """Raise :class:`ServiceDied` if the process exited on its own."""
        process = self._process
        if process is not None and process.returncode is not None:
            raise ServiceDied(
                f"service life {self.lives} exited on its own with {process.returncode}"
            )

    async def stop(self, grace_s: float = 5.0) -> None:
        """Teardown: SIGTERM, then SIGKILL after ``grace_s``; always reaps the process.

        Waits without blocking the event loop: the database proxy runs in it, and the
        service's shutdown may still talk to the database.
        """
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            process.kill()
            await process.wait()

    def log_tail(self, lines: int = 250) -> str:
        """The last ``lines`` lines the service printed (all lives)."""
        if not self._log_path.exists():
            return "(no service output)"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    @property
    def log_path(self) -> Path:
        """The service's log file."""
        return self._log_path
