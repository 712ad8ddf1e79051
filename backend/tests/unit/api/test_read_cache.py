"""The read cache: answers live until the account's journal changes or the TTL passes, and a
crowd of misses builds the answer once."""

import asyncio

import pytest

from app.api.read_cache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_lives_until_its_account_changes_or_the_ttl_passes() -> None:
    clock = Clock()
    cache = ReadCache(ttl_s=2.0, monotonic=clock)
    cache.put("a", "/positions?", b"[1]")
    cache.put("b", "/other?", b"[2]")

    assert cache.get("a", "/positions?") == b"[1]"
    cache.changed("a")
    assert cache.get("a", "/positions?") is None  # a's journal changed
    assert cache.get("b", "/other?") == b"[2]"  # b's did not
    clock.now = 2.5
    assert cache.get("b", "/other?") is None  # too old


def test_the_cache_is_bounded() -> None:
    cache = ReadCache(max_entries=2)
    for n in range(3):
        cache.put("a", f"/k{n}", b"x")
    assert cache.get("a", "/k0") is None
    assert cache.get("a", "/k2") == b"x"


async def test_concurrent_misses_build_once_and_a_failure_reaches_every_waiter() -> None:
    cache = ReadCache()
    builds = 0
    release = asyncio.Event()

    async def build() -> bytes:
        nonlocal builds
        builds += 1
        await release.wait()
        return b"page"

    waiters = [asyncio.create_task(cache._build_once("a", "/k", build)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert set(await asyncio.gather(*waiters)) == {b"page"}
    assert builds == 1
    assert cache.get("a", "/k") == b"page"

    async def broken() -> bytes:
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    failing = [asyncio.create_task(cache._build_once("a", "/bad", broken)) for _ in range(3)]
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.get("a", "/bad") is None


async def test_an_answer_built_across_a_change_is_not_kept() -> None:
    cache = ReadCache()

    async def build() -> bytes:
        cache.changed("a")  # the journal wrote while the page was being read
        return b"stale"

    assert await cache._build_once("a", "/k", build) == b"stale"
    assert cache.get("a", "/k") is None


@pytest.mark.parametrize("ttl", [0.0])
def test_a_zero_ttl_caches_nothing(ttl: float) -> None:
    cache = ReadCache(ttl_s=ttl)
    cache.put("a", "/k", b"x")
    assert cache.get("a", "/k") is None
