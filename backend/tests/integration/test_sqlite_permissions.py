"""The SQLite database holds prompts, model replies and events: only its owner may read it."""

from pathlib import Path

import pytest

from tests.service import serve


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def modes_in(directory: Path, pattern: str = "*") -> dict[str, int]:
    return {path.name: mode_of(path) for path in directory.glob(pattern)}


async def test_a_fresh_sqlite_database_and_its_directories_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "state" / "db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{directory / 'agent.db'}")

    async with serve() as service, service.client() as http:
        ready = await http.get("/ready")
        # While the service runs, so the WAL's -wal and -shm files exist.
        files = modes_in(directory)

    assert ready.status_code == 200
    assert mode_of(tmp_path / "state") == 0o700
    assert mode_of(directory) == 0o700
    assert "agent.db" in files
    assert files == dict.fromkeys(files, 0o600)  # the database, its -wal and -shm alike


async def test_an_existing_readable_database_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "agent.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    directory_mode = mode_of(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")

    async with serve() as service, service.client() as http:
        ready = await http.get("/ready")
        modes = modes_in(tmp_path, "agent.db*")

    assert ready.status_code == 200
    assert "agent.db" in modes
    assert modes == dict.fromkeys(modes, 0o600)
    assert mode_of(tmp_path) == directory_mode  # it may hold more than the database
