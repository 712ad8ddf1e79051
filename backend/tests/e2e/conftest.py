"""Start the real service as a user would, in a subprocess on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKEND_DIR = REPO_ROOT / "backend"
BIN_DIR = Path(sys.executable).parent
STARTUP_BUDGET_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: PATH and HOME, nothing of ours."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Service:
    process: subprocess.Popen[str]
    base_url: str
    log: str | None = None

    def output(self) -> str:
        """Stop the service and return everything it printed."""
        self.stop()
        return self.log or ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is None and self.process.stdout is not None:
            self.log = self.process.stdout.read()
            self.process.stdout.close()


def wait_healthy(service: Service, budget_s: float = STARTUP_BUDGET_S) -> float:
    """Poll /health until it answers 200; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < budget_s:
        if service.process.poll() is not None:
            pytest.fail(f"service exited with {service.process.returncode}:\n{service.output()}")
        try:
            if httpx.get(f"{service.base_url}/health", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/health did not answer within {budget_s} s:\n{service.output()}")


class StartService(Protocol):
    def __call__(self, argv: Sequence[str], env: dict[str, str], cwd: Path, port: int) -> Service:
        """Start ``argv`` serving on ``port``."""
        ...


@pytest.fixture
def start_service() -> Iterator[StartService]:
    """Start a command in ``cwd`` with ``env``; stopped at teardown."""
    started: list[Service] = []

    def start(argv: Sequence[str], env: dict[str, str], cwd: Path, port: int) -> Service:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        service = Service(process, f"http://127.0.0.1:{port}")
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
