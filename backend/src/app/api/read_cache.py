"""Serialized answers of hot read endpoints, reused until the account's journal changes.

Dashboards poll positions and decision pages far more often than an agent cycles (once per
candle). An answer is kept, as JSON bytes, until the journal writes anything for its
account (every order, fill, decision, snapshot or event bumps the account's version) or
``ttl_s`` passes, whichever comes first, so a reader never waits on the database or the
exchange for something that cannot have changed, and never sees data older than ``ttl_s``.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from fastapi import Request, Response


class ReadCache:
    """Per-account versioned cache of response bodies (in-process, bounded, LRU)."""

    def __init__(
        self,
        *,
        ttl_s: float = 2.0,
        max_entries: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._monotonic = monotonic
        self._versions: dict[str, int] = {}
        self._entries: OrderedDict[str, tuple[int, float, bytes]] = OrderedDict()
        self._building: dict[str, asyncio.Future[bytes]] = {}

    def changed(self, account_id: str) -> None:
        """The account's journal changed: its cached answers are out of date."""
        self._versions[account_id] = self._versions.get(account_id, 0) + 1

    def get(self, account_id: str, key: str) -> bytes | None:
        """A still valid answer for ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        version, stored_at, body = entry
        fresh = self._monotonic() - stored_at < self._ttl_s
        if version != self._versions.get(account_id, 0) or not fresh:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return body

    def put(self, account_id: str, key: str, body: bytes) -> None:
        """Keep ``body`` as the answer for ``key`` at the account's current version."""
        self._entries[key] = (self._versions.get(account_id, 0), self._monotonic(), body)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def answer(
        self, request: Request, account_id: str, build: Callable[[], Awaitable[bytes]]
    ) -> Response:
        """The cached answer to ``request``, or a fresh one from ``build`` (then cached)."""
        key = cache_key(request.url.path, request.url.query)
        body = self.get(account_id, key)
        if body is None:
            body = await self._build_once(account_id, key, build)
        return Response(body, media_type="application/json")

    async def _build_once(
        self, account_id: str, key: str, build: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """One build per key at a time: a crowd of misses waits for the first one's answer."""
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        version = self._versions.get(account_id, 0)
        try:
            body = await build()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            raise
        finally:
            del self._building[key]
        if version == self._versions.get(account_id, 0):  # not outdated while building
            self.put(account_id, key, body)
        future.set_result(body)
        return body


def cache_key(path: str, query: str) -> str:
    """The key of a request's answer: its path and query string."""
    return f"{path}?{query}"
