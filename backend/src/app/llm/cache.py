"""The LLM reply cache: a completion is kept under the hash of the exact request that got it.

A backtest re-run sends the very same request bodies (same candles, same prompt, same
model and sampling parameters), so it can be answered from the cache for nothing, and the
same replies make the run reproducible. :class:`CachingCompletions` sits in front of the
OpenRouter client with the same ``complete(body)`` method; the decision provider cannot
tell them apart except that a cached completion says so (``cached``, ``cached_from``), costs
0 and took no time, which the audit trail of ``llm_calls`` keeps.

The key is the SHA-256 of the body's canonical JSON: every field the model sees or that
shapes its answer (model and fallbacks, messages, ``response_format`` and its schema,
temperature, ``max_tokens``, every sampling parameter) is in the body, so any change is a
new key. The API key travels in a header, never in the body, so it is neither hashed nor
stored; the stored row holds no request at all, only the reply.
"""

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite

from app.core.clock import Clock, SystemClock
from app.core.errors import DatabaseUnavailable
from app.db.session import SessionFactory, session_scope
from app.llm.errors import LlmRejected
from app.llm.http import Completion, Completions
from app.llm.models import LlmReplyRow

logger = logging.getLogger(__name__)

_ZERO = Decimal(0)


class CacheMode(StrEnum):
    """How :class:`CachingCompletions` uses the cache.

    ``use``: answer from the cache when the exact request was made before, else call and
    keep the reply; ``only``: never call (a miss is :class:`ReplyCacheMiss`); ``refresh``:
    always call and replace what the cache held.
    """

    USE = "use"
    ONLY = "only"
    REFRESH = "refresh"


class ReplyCacheMiss(LlmRejected):
    """``only`` mode and the request was never made: asking again will not help.

    An :class:`~app.llm.errors.LlmError`, so the decision provider records the failed call
    and holds the cycle, as for any reply it cannot get.
    """


def request_key(body: Mapping[str, Any]) -> str:
    """The cache key of a request body: SHA-256 (hex) of its canonical JSON.

    Keys sorted and no whitespace, so two equal bodies built in a different order share a
    key; any differing value (a message, the temperature, the schema) changes it.

    Raises:
        TypeError: The body is not JSON (it could not be sent either).
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedReply:
    """A completion as the cache keeps it.

    Attributes:
        model: The model the request asked for.
        served_model: The model that answered (a fallback, perhaps).
        content: The message text.
        finish_reason: Why generation stopped.
        prompt_tokens: Tokens billed for the prompt when it was asked.
        completion_tokens: Tokens billed for the answer when it was asked.
        cost_usd: What the original request cost.
        generation_id: OpenRouter's id of the original generation.
        original_call_at: When the original request was made (wall clock, UTC).
    """

    model: str
    served_model: str
    content: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: Decimal | None
    generation_id: str | None
    original_call_at: datetime

    @classmethod
    def of(cls, body: Mapping[str, Any], completion: Completion, at: datetime) -> "CachedReply":
        """Keep ``completion``, the answer to ``body`` obtained at ``at``."""
        return cls(
            model=str(body.get("model") or ""),
            served_model=completion.model,
            content=completion.content,
            finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=completion.cost_usd,
            generation_id=completion.generation_id,
            original_call_at=at,
        )

    def completion(self) -> Completion:
        """The reply as a completion served now: cached, free and instant.

        Usage stays the original (the tokens are what the reply is made of); cost and latency
        are this run's, which are nothing.
        """
        return Completion(
            content=self.content,
            model=self.served_model,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=_ZERO,
            generation_id=self.generation_id,
            latency_ms=0,
            cached=True,
            cached_from=self.original_call_at.isoformat(),
        )


class ReplyStore(Protocol):
    """Where cached replies live, by request key."""

    async def get(self, key: str) -> CachedReply | None:
        """The reply kept under ``key``, or None."""
        ...

    async def put(self, key: str, reply: CachedReply) -> None:
        """Keep ``reply`` under ``key``, replacing what was there."""
        ...


class MemoryReplyStore:
    """A :class:`ReplyStore` in a dict (tests, and runs that need not outlive the process)."""

    def __init__(self) -> None:
        self._replies: dict[str, CachedReply] = {}

    def __len__(self) -> int:
        return len(self._replies)

    async def get(self, key: str) -> CachedReply | None:
        """The reply kept under ``key``, or None."""
        return self._replies.get(key)

    async def put(self, key: str, reply: CachedReply) -> None:
        """Keep ``reply`` under ``key``, replacing what was there."""
        self._replies[key] = reply


class SqlReplyStore:
    """A :class:`ReplyStore` over the ``llm_reply_cache`` table (PostgreSQL or SQLite).

    Args:
        sessions: The database's session factory; each call is its own unit of work.
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def get(self, key: str) -> CachedReply | None:
        """The reply kept under ``key``, or None.

        Raises:
            DatabaseUnavailable: The database could not be reached.
        """
        async with session_scope(self._sessions) as session:
            row = await session.get(LlmReplyRow, key)
            if row is None:
                return None
            return CachedReply(
                model=row.model,
                served_model=row.served_model,
                content=row.content,
                finish_reason=row.finish_reason,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cost_usd=row.cost_usd,
                generation_id=row.generation_id,
                original_call_at=row.original_call_at,
            )

    async def put(self, key: str, reply: CachedReply) -> None:
        """Keep ``reply`` under ``key``, replacing what was there (one upsert statement).

        Raises:
            DatabaseUnavailable: The database could not be reached.
        """
        values: dict[str, Any] = {
            "model": reply.model,
            "served_model": reply.served_model,
            "content": reply.content,
            "finish_reason": reply.finish_reason,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "cost_usd": reply.cost_usd,
            "generation_id": reply.generation_id,
            "original_call_at": reply.original_call_at,
            # When the row was written: a refresh is a new row in all but its key.
            "created_at": SystemClock().now(),
        }
        async with session_scope(self._sessions) as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            statement = insert(LlmReplyRow).values(request_hash=key, **values)
            # Two runs asking the same thing at once both store it: the last one wins.
            await session.execute(
                statement.on_conflict_do_update(index_elements=["request_hash"], set_=values)
            )


class CachingCompletions:
    """A reply cache in front of a :class:`~app.llm.http.Completions` (the OpenRouter client).

    Only successful completions are kept; a failure is raised as the client raised it and
    leaves the cache alone. A reply the provider later finds invalid is kept all the same:
    it is what the model answered, and a re-run must take the same repair path.

    Args:
        client: Who answers a miss (``use``) or every request (``refresh``).
        store: Where replies are kept.
        mode: How the cache is used (:class:`CacheMode`).
        clock: Stamps the original call of a stored reply. The wall clock by default, on
            purpose even in a backtest: it records when the model was really asked.
    """

    def __init__(
        self,
        client: Completions,
        store: ReplyStore,
        mode: CacheMode = CacheMode.USE,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._mode = mode
        self._clock = clock or SystemClock()

    @property
    def mode(self) -> CacheMode:
        """How the cache is used."""
        return self._mode

    async def complete(self, body: dict[str, Any]) -> Completion:
        """Answer ``body`` from the cache or the client, as the mode says.

        Raises:
            ReplyCacheMiss: ``only`` mode and the request is not in the cache.
            LlmError: The client's failure (``use`` on a miss, ``refresh``).
            DatabaseUnavailable: A SQL store could not be read (a failed write is logged).
        """
        key = request_key(body)
        if self._mode is not CacheMode.REFRESH:
            kept = await self._store.get(key)
            if kept is not None:
                return kept.completion()
            if self._mode is CacheMode.ONLY:
                raise ReplyCacheMiss(
                    f"no cached reply for this request to {body.get('model')!r} "
                    f"(key {key[:12]}) and the cache mode is 'only'"
                )
        at = self._clock.now()
        completion = await self._client.complete(body)
        try:
            await self._store.put(key, CachedReply.of(body, completion, at))
        except DatabaseUnavailable as exc:
            # The reply is paid for: losing it (and its cost record) to a cache write helps
            # no one; the next run asks again.
            logger.warning("LLM reply cache: could not keep reply %s: %s", key[:12], exc)
        return completion


__all__ = [
    "CacheMode",
    "CachedReply",
    "CachingCompletions",
    "MemoryReplyStore",
    "ReplyCacheMiss",
    "ReplyStore",
    "SqlReplyStore",
    "request_key",
]
