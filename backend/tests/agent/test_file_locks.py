"""The SQLite account lock: one ``flock`` on ``<database>.lock`` per process, for all its
accounts (two processes on one SQLite file: the e2e suite, test_one_instance.py)."""

import os
from pathlib import Path

from app.agent.locks import (
    FileAccountLocks,
    LocalAccountLocks,
    PostgresAccountLocks,
    account_locks,
)
from app.db.engine import create_engine


async def test_one_holder_at_a_time_and_all_its_accounts_share_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "agent.db.lock"
    # flock belongs to an open file: a second FileAccountLocks is a second instance, even here.
    first, second = FileAccountLocks(path), FileAccountLocks(path)

    a = await first.acquire("a")
    b = await first.acquire("b")
    assert a is not None
    assert b is not None
    assert await second.acquire("a") is None
    assert path.read_text() == f"{os.getpid()}\n"

    await a.release()
    assert await second.acquire("a") is None  # account b still trades here
    await b.release()
    await b.release()  # twice is harmless

    taken = await second.acquire("a")
    assert taken is not None
    assert await taken.alive()
    assert await first.acquire("a") is None


async def test_a_removed_lock_file_is_a_lost_lock(tmp_path: Path) -> None:
    path = tmp_path / "agent.db.lock"
    locks = FileAccountLocks(path)
    lock = await locks.acquire("a")
    assert lock is not None

    path.unlink()  # anyone could lock a new file at that path now

    assert not await lock.alive()
    await lock.release()
    again = await locks.acquire("a")
    assert again is not None
    assert await again.alive()


async def test_the_lock_fits_the_database(tmp_path: Path) -> None:
    engines = {
        "file": create_engine(f"sqlite+aiosqlite:///{tmp_path / 'agent.db'}"),
        "memory": create_engine("sqlite+aiosqlite:///:memory:"),
        "postgres": create_engine("postgresql+asyncpg://u@127.0.0.1:1/db"),
    }
    try:
        chosen = {name: account_locks(engine) for name, engine in engines.items()}

        assert isinstance(chosen["file"], FileAccountLocks)
        assert chosen["file"].path == Path(f"{tmp_path / 'agent.db'}.lock")
        assert isinstance(chosen["memory"], LocalAccountLocks)
        assert isinstance(chosen["postgres"], PostgresAccountLocks)
    finally:
        for engine in engines.values():
            await engine.dispose()
