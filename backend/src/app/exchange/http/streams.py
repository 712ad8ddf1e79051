"""WebSocket streams (spec §6): market klines / mark price and the user data stream.

Both reconnect with exponential backoff and jitter, reconnect on purpose before the server's
24 h cut, answer pings (the ``websockets`` library does) and send their own to notice a dead
link. After every reconnect they catch up over REST before reading live messages again, so no
closed candle or fill is missed; duplicates are dropped by candle open time and trade id. The
user data stream says whether it is connected now and counts its connections, so a consumer can
tell whether it may have missed something since it last looked.
"""

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from app.core.backoff import jittered_backoff
from app.core.clock import Clock, SystemClock
from app.core.types import interval_delta
from app.exchange.errors import ExchangeError, ExchangeRejected
from app.exchange.events import KlineClosed, MarketEvent, StreamReconnected, UserEvent
from app.exchange.http.client import AsterdexClient
from app.exchange.http.constants import LISTEN_KEY_KEEPALIVE_S, PLANNED_RECONNECT_S
from app.exchange.http.stream_wire import (
    parse_account_update,
    parse_kline_event,
    parse_mark_price_event,
    parse_order_update,
    trade_to_order_update,
)
from app.exchange.types import ExchangeOrder

logger = logging.getLogger(__name__)

_INVALID_LISTEN_KEY = -1125


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff between reconnects, and the planned reconnect before the 24 h limit."""

    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    lifetime_s: float = PLANNED_RECONNECT_S
    ping_interval_s: float = 20.0

    def delay(self, attempt: int) -> float:
        """Wait before reconnect ``attempt`` (1-based): exponential with full jitter."""
        return jittered_backoff(attempt, self.base_delay_s, self.max_delay_s)


class _PlannedReconnect(Exception):
    """The connection reached its planned lifetime (or a listen key must be replaced)."""


class _Socket:
    """Connects, reconnects and yields decoded JSON messages; catch-up is the caller's job."""

    def __init__(self, name: str, policy: ReconnectPolicy, clock: Clock) -> None:
        self._name = name
        self._policy = policy
        self._clock = clock
        self.connection: ClientConnection | None = None

    async def lost(self, attempt: int, exc: BaseException) -> tuple[int, str]:
        """Log a lost connection and wait out the backoff; return the next attempt, reason."""
        attempt += 1
        reason = f"{exc.__class__.__name__}: {exc}"
        delay = self._policy.delay(attempt)
        logger.warning("%s lost (%s); reconnecting in %.1f s", self._name, reason, delay)
        await self.sleep(delay)
        return attempt, reason

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep_until(self._clock.now() + timedelta(seconds=seconds))

    async def session[E](
        self,
        connection: ClientConnection,
        resumed: StreamReconnected | None,
        catch_up: Callable[[], AsyncIterator[E]],
        parse: Callable[[dict[str, Any]], E | None],
        on_live: Callable[[], None] | None = None,
    ) -> AsyncIterator[E | StreamReconnected]:
        """One connection's events; after a reconnect, the notice and the catch-up first.

        ``on_live`` is called once the catch-up is done, when live messages are read.
        """
        if resumed is not None:
            yield resumed
            async for missed in catch_up():
                yield missed
        if on_live is not None:
            on_live()
        async for message in self.messages(connection):
            event = parse(message)
            if event is not None:
                yield event

    async def messages(self, connection: ClientConnection) -> AsyncIterator[dict[str, Any]]:
        """Decoded messages until the planned lifetime ends (then _PlannedReconnect)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.lifetime_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _PlannedReconnect(f"{self._name}: planned reconnect")
            try:
                raw = await asyncio.wait_for(connection.recv(), timeout=remaining)
            except TimeoutError:
                raise _PlannedReconnect(f"{self._name}: planned reconnect") from None
            try:
                message = json.loads(raw)
            except ValueError:
                logger.warning("%s: dropped a frame that is not JSON", self._name)
                continue
            if isinstance(message, dict):
                # Combined streams wrap payloads as {"stream": ..., "data": ...}.
                data = message.get("data", message) if "stream" in message else message
                if isinstance(data, dict):
                    yield data

    def connect(self, url: str) -> Any:
        return connect(
            url,
            open_timeout=10,
            ping_interval=self._policy.ping_interval_s,
            ping_timeout=self._policy.ping_interval_s,
            close_timeout=2,
            max_queue=4096,
        )


_RETRYABLE = (ConnectionClosed, OSError, InvalidHandshake, InvalidURI, TimeoutError, ExchangeError)


class MarketStream:
    """Closed klines (and optionally mark prices) for symbols and intervals.

    Args:
        client: REST client used to catch up after a reconnect.
        ws_url: WebSocket root, e.g. ``wss://fstream.asterdex.com``.
        klines: (symbol, interval) pairs to follow.
        mark_prices: Also follow ``<symbol>@markPrice`` for these symbols.
        since: Per (symbol, interval), the open time of the last closed candle the caller
            already has; catch-up starts after it. Unset pairs start from the stream.
    """

    def __init__(
        self,
        client: AsterdexClient,
        ws_url: str,
        klines: Sequence[tuple[str, str]],
        *,
        mark_prices: Sequence[str] = (),
        since: dict[tuple[str, str], datetime] | None = None,
        policy: ReconnectPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        names = [f"{s.lower()}@kline_{i}" for s, i in klines]
        names += [f"{s.lower()}@markPrice" for s in mark_prices]
        self._url = f"{ws_url.rstrip('/')}/stream?streams={'/'.join(names)}"
        self._pairs = list(klines)
        self._last: dict[tuple[str, str], datetime] = dict(since or {})
        self._socket = _Socket("market stream", policy or ReconnectPolicy(), clock or SystemClock())

    async def events(self) -> AsyncGenerator[MarketEvent]:
        """Events forever (until the consumer stops iterating)."""
        attempt = 0
        reason = ""
        while True:
            try:
                async with self._socket.connect(self._url) as connection:
                    resumed = StreamReconnected(attempt, reason) if attempt or reason else None
                    attempt = 0
                    async for event in self._socket.session(
                        connection, resumed, self._catch_up, self._parse
                    ):
                        yield event
            except _PlannedReconnect as exc:
                reason = str(exc)
            except _RETRYABLE as exc:
                attempt, reason = await self._socket.lost(attempt, exc)

    def _parse(self, message: dict[str, Any]) -> MarketEvent | None:
        kind = message.get("e")
        if kind == "kline":
            kline = parse_kline_event(message)
            if kline is None or not self._is_new(kline.symbol, kline.interval, kline.open_time):
                return None
            return KlineClosed(kline)
        if kind == "markPriceUpdate":
            return parse_mark_price_event(message)
        return None

    def _is_new(self, symbol: str, interval: str, open_time: datetime) -> bool:
        key = (symbol, interval)
        if key in self._last and open_time <= self._last[key]:
            return False
        self._last[key] = open_time
        return True

    async def _catch_up(self) -> AsyncIterator[MarketEvent]:
        for symbol, interval in self._pairs:
            last = self._last.get((symbol, interval))
            if last is None:
                continue
            start = last + interval_delta(interval)
            for kline in await self._client.klines_range(symbol, interval, start=start):
                if kline.closed and self._is_new(symbol, interval, kline.open_time):
                    yield KlineClosed(kline, catch_up=True)


class UserDataStream:
    """Order updates (fills included) and account updates of one account.

    Keeps its listen key alive every 30 minutes, replaces it when the exchange says it
    expired, and after every reconnect replays missed fills from ``userTrades``: of its
    symbols, of open positions and of every symbol the account's income shows a fill in.

    Args:
        client: The account's signed REST client.
        ws_url: WebSocket root.
        symbols: Symbols whose fills are always caught up after a reconnect.
        since: Catch-up looks for fills from this time on (default: when the stream starts).
    """

    def __init__(
        self,
        client: AsterdexClient,
        ws_url: str,
        symbols: Sequence[str],
        *,
        since: datetime | None = None,
        policy: ReconnectPolicy | None = None,
        clock: Clock | None = None,
        keepalive_s: float = LISTEN_KEY_KEEPALIVE_S,
    ) -> None:
        self._client = client
        self._ws_url = ws_url.rstrip("/")
        self._symbols = list(symbols)
        self._clock = clock or SystemClock()
        self._socket = _Socket("user data stream", policy or ReconnectPolicy(), self._clock)
        self._keepalive_s = keepalive_s
        self._since = since
        self._seen_trades: deque[tuple[str, int]] = deque(maxlen=10_000)
        self._seen_set: set[tuple[str, int]] = set()
        self._listen_key: str | None = None
        self._live = asyncio.Event()
        self._connections = 0
        self._losses = 0

    @property
    def listen_key(self) -> str | None:
        """The listen key in use."""
        return self._listen_key

    @property
    def symbols(self) -> list[str]:
        """Symbols always caught up after a reconnect."""
        return list(self._symbols)

    @symbols.setter
    def symbols(self, symbols: Sequence[str]) -> None:
        self._symbols = list(symbols)

    @property
    def connected(self) -> bool:
        """True while a connection is up and delivering live messages (caught up)."""
        return self._live.is_set()

    @property
    def connections(self) -> int:
        """How many connections went live so far; a change means a reconnect happened."""
        return self._connections

    @property
    def losses(self) -> int:
        """How many live connections ended so far (lost, expired or planned)."""
        return self._losses

    async def wait_connected(self) -> None:
        """Return once a connection is live (at once when one is)."""
        await self._live.wait()

    async def events(self) -> AsyncGenerator[UserEvent]:
        """Events forever (until the consumer stops iterating)."""
        self._since = self._since or self._clock.now()
        attempt = 0
        reason = ""
        while True:
            keepalive: asyncio.Task[None] | None = None
            try:
                self._listen_key = await self._client.new_listen_key()
                url = f"{self._ws_url}/ws/{self._listen_key}"
                async with self._socket.connect(url) as connection:
                    keepalive = asyncio.create_task(self._keep_alive(connection))
                    resumed = StreamReconnected(attempt, reason) if attempt or reason else None
                    attempt = 0
                    async for event in self._socket.session(
                        connection, resumed, self._catch_up, self._parse, self._went_live
                    ):
                        yield event
            except _PlannedReconnect as exc:
                reason = str(exc)
            except _RETRYABLE as exc:
                self._went_down()  # before the backoff: down is down while we wait
                attempt, reason = await self._socket.lost(attempt, exc)
            finally:
                self._went_down()
                if keepalive is not None:
                    keepalive.cancel()
                    await asyncio.gather(keepalive, return_exceptions=True)

    def _went_live(self) -> None:
        self._connections += 1
        self._live.set()

    def _went_down(self) -> None:
        if self._live.is_set():
            self._losses += 1
            self._live.clear()

    def _parse(self, message: dict[str, Any]) -> UserEvent | None:
        kind = message.get("e")
        if kind == "ORDER_TRADE_UPDATE":
            update = parse_order_update(message)
            if update.is_fill and not self._remember(update.symbol, update.trade_id):
                return None
            self._advance(update.time)
            return update
        if kind == "ACCOUNT_UPDATE":
            return parse_account_update(message)
        if kind == "listenKeyExpired":
            raise _PlannedReconnect("listen key expired")
        return None

    def _remember(self, symbol: str, trade_id: int) -> bool:
        key = (symbol, trade_id)
        if key in self._seen_set:
            return False
        if len(self._seen_trades) == self._seen_trades.maxlen:
            self._seen_set.discard(self._seen_trades[0])
        self._seen_trades.append(key)
        self._seen_set.add(key)
        return True

    def _advance(self, when: datetime) -> None:
        if self._since is None or when > self._since:
            self._since = when

    async def _catch_up(self) -> AsyncIterator[UserEvent]:
        start = (self._since or self._clock.now()) - timedelta(seconds=5)
        orders: dict[tuple[str, int], ExchangeOrder] = {}
        symbols = set(self._symbols) | await self._client.symbols_with_fills(start)
        for symbol in sorted(symbols):
            for trade in await self._client.user_trades(symbol, start=start):
                if (symbol, trade.trade_id) in self._seen_set:
                    continue
                key = (symbol, trade.order_id)
                if key not in orders:
                    orders[key] = await self._client.query_order(symbol, order_id=trade.order_id)
                self._remember(symbol, trade.trade_id)
                yield trade_to_order_update(trade, orders[key])

    async def _keep_alive(self, connection: ClientConnection) -> None:
        while True:
            await self._socket.sleep(self._keepalive_s)
            if self._listen_key is None:
                continue
            try:
                await self._client.keepalive_listen_key(self._listen_key)
            except ExchangeRejected as exc:
                if exc.exchange_code == _INVALID_LISTEN_KEY:
                    logger.warning("listen key gone; reconnecting with a new one")
                    await connection.close(reason="listen key replaced")
                    return
                logger.warning("listen key keepalive failed: %s", exc)
            except ExchangeError as exc:
                logger.warning("listen key keepalive failed: %s", exc)
