"""``FakeOpenRouter``: the fake OpenRouter API as an in-process uvicorn server on loopback."""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Self

from starlette.types import Receive, Scope, Send

from tests.fakes._uvicorn import LoopbackServer
from tests.fakes.asterdex import NowSource

from ._catalogue import DEFAULT_MODELS, Catalogue, FakeModel
from ._http import API_PREFIX, HttpFront, RecordedCall
from ._ledger import Generation, Ledger
from ._replies import Reply
from ._request import ChatRequest

DEFAULT_API_KEY = "sk-or-v1-test-key"


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeOpenRouter:
    """A fake OpenRouter API (``/api/v1``) answering chat requests from a script.

    See the package docstring for the behaviour. The constructor only prepares state;
    :meth:`start` (or ``async with``) opens the server on ``127.0.0.1`` at a free port.

    Args:
        api_keys: Bearer keys the fake accepts.
        models: The catalogue (default :data:`DEFAULT_MODELS`); the first model stands in
            for the account default when a request names no model.
        credits_usd: The balance completions are charged against; None: unlimited.
        clock: Source of "now" for ``created`` stamps and model retirement (wall clock).
    """

    def __init__(
        self,
        *,
        api_keys: Sequence[str] = (DEFAULT_API_KEY,),
        models: Sequence[FakeModel] | None = None,
        credits_usd: Decimal | None = None,
        clock: NowSource | None = None,
    ) -> None:
        self._clock: NowSource = clock or _WallClock()
        self._ledger = Ledger(credits_usd)
        self._stopping = asyncio.Event()
        self._http = HttpFront(
            api_keys,
            Catalogue(DEFAULT_MODELS if models is None else models),
            self._ledger,
            self._clock.now,
            self._stopping,
        )
        self._loopback = LoopbackServer(self._asgi, name="OpenRouter", ws="none")
        self._loopback.port = 0

    # -- scripting ----------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests that reach a model (first in, first out)."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"not a Reply: {reply!r}")
        self._http.replies.extend(replies)

    @property
    def default_reply(self) -> Callable[[ChatRequest], Reply] | None:
        """Answers when the script is empty (initially ``Reply.content("{}")``).

        None makes such a request a 500 envelope saying the script ran out.
        """
        return self._http.default_reply

    @default_reply.setter
    def default_reply(self, value: Callable[[ChatRequest], Reply] | None) -> None:
        self._http.default_reply = value

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._http.replies)

    @property
    def generation_not_ready_polls(self) -> int:
        """``GET /generation`` answers 404 for the first this many polls of each id."""
        return self._http.generation_not_ready_polls

    @generation_not_ready_polls.setter
    def generation_not_ready_polls(self, value: int) -> None:
        if value < 0:
            raise ValueError("generation_not_ready_polls must be >= 0")
        self._http.generation_not_ready_polls = value

    def clear(self) -> None:
        """Forget the script, the recorded requests and calls (not generations or credits)."""
        self._http.replies.clear()
        self._http.requests.clear()
        self._http.calls.clear()

    # -- what happened ------------------------------------------------------------------

    @property
    def requests(self) -> list[ChatRequest]:
        """Every ``POST /chat/completions`` received, oldest first."""
        return self._http.requests

    @property
    def calls(self) -> list[RecordedCall]:
        """Every HTTP request received (any path), oldest first."""
        return self._http.calls

    @property
    def generations(self) -> dict[str, Generation]:
        """Past generations by ``gen-...`` id."""
        return self._ledger.generations

    @property
    def usage_usd(self) -> Decimal:
        """USD charged so far."""
        return self._ledger.usage_usd

    @property
    def balance_usd(self) -> Decimal | None:
        """Credits left (None without ``credits_usd``)."""
        return self._ledger.balance_usd

    @property
    def models(self) -> tuple[FakeModel, ...]:
        """The catalogue."""
        return self._http.catalogue.models

    # -- server lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """API root, e.g. ``http://127.0.0.1:54321/api/v1``."""
        if not self._loopback.port:
            raise RuntimeError("FakeOpenRouter is not started")
        return f"http://127.0.0.1:{self._loopback.port}{API_PREFIX}"

    async def start(self) -> None:
        """Serve on a free loopback port; return once the server accepts connections."""
        if self._loopback.running:
            return
        self._stopping.clear()
        await self._loopback.start()

    async def stop(self) -> None:
        """Cut pending delays short, finish in-flight requests, stop (idempotent)."""
        if not self._loopback.running:
            return
        self._stopping.set()
        await self._loopback.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
