"""The exchange's state and its replay timeline, independent of HTTP.

``advance(upto)`` replays everything that happened between the last call and ``upto`` in time
order: bar closes (orders worked, then the kline and mark price pushed), funding settlements
(after a bar closing at the same instant) and listen-key expiries (before anything else at the
same instant, since a key is valid only strictly before its expiry).

A test may move a price at once (``move_price``): at the next ``advance`` every open order of
the symbol is worked against one synthetic bar from the old price to the new one (stamped with
that instant), the mark price is pushed, and the new price holds until the data's next bar of
that symbol closes (no kline is pushed and the klines keep the data).
"""

from collections.abc import Callable, Mapping
from decimal import Decimal
from hashlib import sha256

from ._accounts import LISTEN_KEY_TTL_MS, FakeAccount
from ._errors import BAD_SYMBOL, INVALID_LISTEN_KEY, error
from ._ledger import IdSource
from ._limits import OrderMeter
from ._market import INTERVAL_MS, Bar, SymbolSeries
from ._market_wire import kline_event, mark_price_event
from ._matching import Costs, MatchingEngine
from ._params import Params
from ._streams import StreamHub
from ._symbols import FakeSymbolSpec
from ._wire import Json

_EXPIRY, _BAR, _FUNDING = 0, 1, 2


class Venue:
    """Accounts, markets, the matching engine and the stream hub of one fake exchange."""

    def __init__(
        self,
        series: Mapping[str, SymbolSeries],
        specs: Mapping[str, FakeSymbolSpec],
        interval: str,
        costs: Costs,
        now_ms: Callable[[], int],
    ) -> None:
        self.series = dict(series)
        self.specs = dict(specs)
        self.interval = interval
        self.interval_ms = INTERVAL_MS[interval]
        self.now_ms = now_ms
        self.ids = IdSource()
        self.order_meter = OrderMeter()
        self.hub = StreamHub(self._listen_key_active)
        self.engine = MatchingEngine(self.series, self.specs, costs, self.ids, self._user_event)
        self.by_key: dict[str, FakeAccount] = {}
        self._cursor = now_ms()
        self._event_ms = self._cursor
        self._moves: list[tuple[str, Decimal | None]] = []

    # -- accounts -----------------------------------------------------------------------------

    def add_account(self, key: str, account: FakeAccount) -> FakeAccount:
        """Register ``account`` under its API key or lower-case wallet address."""
        if key in self.by_key:
            raise ValueError(f"account {key!r} already exists")
        self.by_key[key] = account
        self.engine.accounts.append(account)
        return account

    def lookup(self, key: str) -> FakeAccount | None:
        """The account for an API key or (any-case) wallet address."""
        return self.by_key.get(key) or self.by_key.get(key.lower())

    def symbol(self, params: Params, name: str = "symbol") -> str:
        """A mandatory, known symbol parameter."""
        symbol = params.require(name)
        if symbol not in self.specs:
            raise error(BAD_SYMBOL)
        return symbol

    def optional_symbol(self, params: Params) -> str | None:
        """An optional, known symbol parameter."""
        return self.symbol(params) if "symbol" in params else None

    # -- listen keys --------------------------------------------------------------------------

    def _listen_key_active(self, key: str) -> bool:
        now = self.now_ms()
        return any(a.active_listen_key(now) == key for a in self.engine.accounts)

    def create_listen_key(self, account: FakeAccount, now_ms: int) -> str:
        """POST: the active key (extended), or a new one."""
        key = account.active_listen_key(now_ms)
        if key is None:
            seed = f"{account.account_id}:{self.ids.key_serial()}".encode()
            key = sha256(seed).hexdigest()
            account.listen_key = key
        account.listen_key_expires_ms = now_ms + LISTEN_KEY_TTL_MS
        return key

    def keepalive_listen_key(self, account: FakeAccount, key: str | None, now_ms: int) -> None:
        """PUT: extend the active key (-1125 when there is none or another one is named)."""
        active = account.active_listen_key(now_ms)
        if active is None or key not in (None, active):
            raise error(INVALID_LISTEN_KEY)
        account.listen_key_expires_ms = now_ms + LISTEN_KEY_TTL_MS

    def close_listen_key(self, account: FakeAccount, key: str | None, now_ms: int) -> None:
        """DELETE: invalidate the key (-1125 when another, unknown key is named)."""
        active = account.active_listen_key(now_ms)
        if key is not None and key != active:
            raise error(INVALID_LISTEN_KEY)
        account.listen_key = None

    def _user_event(self, account: FakeAccount, payload: Json) -> None:
        key = account.active_listen_key(self._event_ms)
        if key is not None:
            self.hub.publish(key, payload)

    def publish_user(self, account: FakeAccount, payload: Json) -> None:
        """Push a user-data event outside the matching engine (e.g. config updates)."""
        self._event_ms = self.now_ms()
        self._user_event(account, payload)

    # -- the timeline -------------------------------------------------------------------------

    def begin_request(self, now_ms: int) -> None:
        """Catch up to ``now_ms`` and stamp the request's own events with it."""
        self.advance(now_ms)
        self._event_ms = now_ms

    def move_price(self, symbol: str, price: Decimal | None) -> None:
        """Move ``symbol`` to ``price`` (None: back to the data) at the next :meth:`advance`."""
        if symbol not in self.series:
            raise KeyError(symbol)
        if price is not None and price <= 0:
            raise ValueError("a price must be positive")
        self._moves.append((symbol, price))

    def _apply_moves(self, at_ms: int) -> None:
        moves, self._moves = self._moves, []
        for symbol, price in moves:
            series = self.series[symbol]
            old = series.price(at_ms)
            series.override = price
            new = series.price(at_ms)
            last = series.closed_count(at_ms) - 1
            volume = series.bar(last, at_ms).volume if last >= 0 else Decimal(0)
            bar = Bar(
                at_ms - self.interval_ms,
                self.interval_ms,
                old,
                max(old, new),
                min(old, new),
                new,
                volume,
                True,
            )
            self._event_ms = at_ms
            self.engine.on_bar(symbol, bar)
            self._push_mark(symbol, at_ms)

    def advance(self, upto_ms: int) -> None:
        """Replay everything in ``(cursor, upto_ms]``, then apply moved prices."""
        self._replay(upto_ms)
        if self._moves:
            self._apply_moves(max(upto_ms, self._cursor))

    def _replay(self, upto_ms: int) -> None:
        after = self._cursor
        if upto_ms <= after:
            return
        events: list[tuple[int, int, int, str, int | Decimal]] = []
        for rank, (symbol, series) in enumerate(self.series.items()):
            for index in series.closing_between(after, upto_ms):
                closes_at = series.bar(index, upto_ms).open_time_ms + self.interval_ms
                events.append((closes_at, _BAR, rank, symbol, index))
            for funding_ms, rate in series.funding_between(after, upto_ms):
                events.append((funding_ms, _FUNDING, rank, symbol, rate))
        for rank, account in enumerate(self.engine.accounts):
            expiry = account.listen_key_expires_ms
            if account.listen_key is not None and after < expiry <= upto_ms:
                events.append((expiry, _EXPIRY, rank, account.account_id, 0))
        events.sort(key=lambda e: e[:3])
        for at_ms, kind, rank, name, value in events:
            self._event_ms = at_ms
            if kind == _BAR:
                assert isinstance(value, int)
                self._close_bar(name, value, at_ms)
            elif kind == _FUNDING:
                assert isinstance(value, Decimal)
                self.engine.on_funding(name, at_ms, value)
                self._push_mark(name, at_ms)
            else:
                self._expire_key(self.engine.accounts[rank], at_ms)
        self._cursor = upto_ms

    def _close_bar(self, symbol: str, index: int, at_ms: int) -> None:
        series = self.series[symbol]
        series.override = None  # the data's next bar takes over from a moved price
        bar = series.bar(index, at_ms)
        self.engine.on_bar(symbol, bar)
        prefix = f"{symbol.lower()}@kline_"
        for name in sorted(self.hub.subscribed()):
            if not name.startswith(prefix):
                continue
            interval = name.removeprefix(prefix)
            interval_ms = INTERVAL_MS.get(interval)
            if interval_ms is None or interval_ms % self.interval_ms:
                continue
            closed = (
                bar
                if interval_ms == self.interval_ms
                else series.closed_aggregate(interval_ms, index, at_ms)
            )
            if closed is not None:
                self.hub.publish(name, kline_event(symbol, interval, closed, at_ms))
        self._push_mark(symbol, at_ms)

    def _push_mark(self, symbol: str, at_ms: int) -> None:
        lower = symbol.lower()
        single = {f"{lower}@markPrice", f"{lower}@markPrice@1s"}
        every = {"!markPrice@arr", "!markPrice@arr@1s"}
        listened = self.hub.subscribed()
        if not listened & (single | every):
            return
        payload = mark_price_event(self.series[symbol], at_ms)
        for name in sorted(single):
            self.hub.publish(name, payload)
        for name in sorted(every):
            self.hub.publish(name, [payload])

    def _expire_key(self, account: FakeAccount, at_ms: int) -> None:
        key = account.listen_key
        if key is None:
            return
        self.hub.publish(key, {"e": "listenKeyExpired", "E": at_ms, "listenKey": key})
        account.listen_key = None
