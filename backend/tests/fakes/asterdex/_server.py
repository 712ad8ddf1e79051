"""``FakeAsterdex``: the fake exchange as an in-process uvicorn server on a loopback port."""

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from starlette.types import Receive, Scope, Send

from tests.fakes._uvicorn import LoopbackServer

from ._accounts import FakeAccount
from ._faults import Fault, FaultBook, FaultHit
from ._http import HttpFront, RecordedRequest
from ._limits import WeightMeter
from ._market import FakeCandle, load_series
from ._matching import Costs
from ._symbols import FakeSymbolSpec, default_spec
from ._venue import Venue

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
# backend/tests/candles: real candles kept in the repository (gzip; read_candles opens them).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "candles"
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK_S = 0.05


class NowSource(Protocol):
    """Anything with ``now()`` (``app.core.clock.Clock``, ``tests.fakes.clock.ManualClock``)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class FakeAsterdex:
    """A fake AsterDEX futures exchange speaking the real REST and WebSocket protocols.

    See the package docstring for the behaviour; the constructor only prepares state, and
    :meth:`start` (or ``async with``) opens the server on ``127.0.0.1`` at a free port.

    Args:
        clock: Source of "now" (anything with a tz-aware ``now()``); the wall clock by default.
        symbols: Symbols to list; default the keys of ``candles``, else BTC/ETH/SOL USDT.
        interval: The candle interval that drives prices, matching, triggers and klines.
        candles: A test's own candles per symbol; other symbols load the recorded files.
        data_dir: Where ``<SYMBOL>-<interval>.csv`` and ``<SYMBOL>-funding.csv`` live (each
            may be ``.csv.gz``).
        rebase_to: Shift all times so that bar ``start_index`` is the last bar closed then.
        start_index: The anchor bar of ``rebase_to`` (default 299: 300 closed bars; clamped to
            the last bar of a shorter series).
        maker_fee: Maker commission rate (fraction of notional).
        taker_fee: Taker commission rate (fraction of notional).
        slippage_bps: Taker fills move this many basis points against the taker.
        funding_rates: ``(funding_time_ms, rate)`` per symbol, shifted like the candles;
            default the CSV files for file-loaded symbols and none for a test's own candles.
        weight_limit_per_minute: REQUEST_WEIGHT per clock minute before 429 -1003.
        v3_chain_id: EIP-712 chain id of V3 signatures (1666 mainnet, 714 testnet).
        symbol_specs: Filters per symbol replacing the defaults (see ``FakeSymbolSpec``).
        fill_volume_share: Cap a resting LIMIT order's fill per bar at this share of the bar's
            volume (None: fill completely), to produce PARTIALLY_FILLED orders.
    """

    def __init__(
        self,
        *,
        clock: NowSource | None = None,
        symbols: Sequence[str] | None = None,
        interval: str = "1h",
        candles: Mapping[str, Sequence[FakeCandle]] | None = None,
        data_dir: Path | None = None,
        rebase_to: datetime | None = None,
        start_index: int | None = None,
        maker_fee: Decimal = Decimal("0.0001"),
        taker_fee: Decimal = Decimal("0.00035"),
        slippage_bps: Decimal = Decimal("0"),
        funding_rates: Mapping[str, Sequence[tuple[int, Decimal]]] | None = None,
        weight_limit_per_minute: int = 2400,
        v3_chain_id: int = 1666,
        symbol_specs: Mapping[str, FakeSymbolSpec] | None = None,
        fill_volume_share: Decimal | None = None,
    ) -> None:
        self._clock: NowSource = clock or _WallClock()
        self.clock_skew_ms = 0
        chosen = tuple(symbols) if symbols is not None else tuple(candles or DEFAULT_SYMBOLS)
        series = load_series(
            chosen,
            interval,
            candles=candles or {},
            data_dir=data_dir or DEFAULT_DATA_DIR,
            funding_rates=funding_rates,
            rebase_ms=None if rebase_to is None else _to_ms(rebase_to),
            start_index=start_index,
        )
        specs = {s: (symbol_specs or {}).get(s) or default_spec(s) for s in chosen}
        costs = Costs(maker_fee, taker_fee, slippage_bps, fill_volume_share)
        self._faults = FaultBook()
        self._venue = Venue(series, specs, interval, costs, self.server_time_ms)
        self._stopping = asyncio.Event()
        self._http = HttpFront(
            self._venue,
            self._faults,
            WeightMeter(weight_limit_per_minute),
            v3_chain_id,
            self._stopping,
        )
        self._loopback = LoopbackServer(self._asgi, name="AsterDEX", ws="websockets-sansio")
        self._ticker: asyncio.Task[None] | None = None
        self._background_error: BaseException | None = None

    # -- time -----------------------------------------------------------------------------

    def server_time_ms(self) -> int:
        """The fake's clock in epoch ms: ``clock.now()`` plus :attr:`clock_skew_ms`."""
        return _to_ms(self._clock.now()) + self.clock_skew_ms

    async def process(self) -> None:
        """Catch up to the clock: close bars, work orders, settle funding, push events."""
        self._venue.advance(self.server_time_ms())

    def price(self, symbol: str) -> Decimal:
        """The current (and mark) price of ``symbol``: the last closed bar's close (or moved)."""
        return self._venue.engine.price(symbol, self.server_time_ms())

    def set_price(self, symbol: str, price: Decimal | None) -> None:
        """Test hook: move the market of ``symbol`` to ``price`` now (None: back to the data).

        At the next :meth:`process` (or request, or 50 ms tick) every open order of the symbol
        is worked against one bar from the old price to ``price``, so stops and targets in
        between fire, and the mark price is pushed; ``price`` then holds until the data's next
        bar of the symbol closes. Klines keep the data.
        """
        self._venue.move_price(symbol, price)

    # -- accounts -------------------------------------------------------------------------

    def add_hmac_account(
        self, api_key: str, api_secret: str, *, balance: Decimal = Decimal("10000")
    ) -> FakeAccount:
        """Open an account reached with ``X-MBX-APIKEY: api_key`` and HMAC ``api_secret``."""
        account = FakeAccount.create(api_key, "hmac", api_secret, balance, self._venue.series)
        return self._venue.add_account(api_key, account)

    def add_v3_account(
        self, user: str, signer: str, *, balance: Decimal = Decimal("10000")
    ) -> FakeAccount:
        """Open a V3 account: main wallet ``user`` trading through API wallet ``signer``."""
        for address in (user, signer):
            if not _ADDRESS_RE.match(address):
                raise ValueError(f"not a 0x address: {address!r}")
        account = FakeAccount.create(
            user.lower(), "v3", signer.lower(), balance, self._venue.series
        )
        return self._venue.add_account(user.lower(), account)

    def revoke_key(self, key_or_user: str) -> FakeAccount:
        """Test hook: the key is revoked; its signed requests answer 401 -2015 from now on.

        Returns the account, which keeps its state (positions, orders) on the venue.
        """
        account = self.account(key_or_user)
        del self._venue.by_key[account.account_id]
        return account

    def account(self, key_or_user: str) -> FakeAccount:
        """The account with this API key or wallet address."""
        account = self._venue.lookup(key_or_user)
        if account is None:
            raise KeyError(key_or_user)
        return account

    # -- faults ---------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Arm a REST fault (see ``Fault``)."""
        self._faults.inject(fault)

    def clear_faults(self) -> None:
        """Disarm every fault and lift a running 418 ban."""
        self._faults.clear()

    @property
    def fault_hits(self) -> list[FaultHit]:
        """Every request an injected fault acted on, oldest first (see ``FaultHit``)."""
        return self._faults.hits

    async def drop_websockets(self) -> None:
        """Cut every open WebSocket (market and user data) without a close frame."""
        await self._venue.hub.drop_all()

    def refuse_user_streams(self, refuse: bool = True) -> None:
        """Test hook: refuse (or serve again) user-data WebSockets, whatever the listen key.

        With :meth:`drop_websockets` this keeps a user-data stream down: reconnects are
        rejected at the handshake (HTTP 403) until this is called with False.
        """
        self._venue.hub.refuse_user_data = refuse

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request so far, oldest first."""
        return self._http.requests

    # -- server lifecycle -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """REST root, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self._require_port()}"

    @property
    def ws_url(self) -> str:
        """WebSocket root, e.g. ``ws://127.0.0.1:54321``."""
        return f"ws://127.0.0.1:{self._require_port()}"

    def _require_port(self) -> int:
        if not self._loopback.port:
            raise RuntimeError("FakeAsterdex is not started")
        return self._loopback.port

    async def start(self) -> None:
        """Serve on a free loopback port; return once the server accepts connections."""
        if self._loopback.running:
            return
        self._stopping.clear()
        await self._loopback.start()
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Close WebSockets, finish in-flight requests, stop the server (idempotent)."""
        if not self._loopback.running:
            return
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._venue.hub.close_all()
        await self._loopback.stop()
        if self._background_error is not None:
            raise RuntimeError(
                "the fake's background processing failed"
            ) from self._background_error

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

    async def _tick(self) -> None:
        """Catch up with the clock every :data:`TICK_S` of real time."""
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self._venue.advance(self.server_time_ms())
        except Exception as exc:  # surfaced by stop(), so a test cannot miss it
            self._background_error = exc

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            self._venue.begin_request(self.server_time_ms())
            await self._venue.hub.serve(scope, receive, send)
