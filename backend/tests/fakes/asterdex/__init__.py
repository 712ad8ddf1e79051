"""A fake AsterDEX perpetual-futures exchange that speaks the real wire protocol.

It follows ``shared/specs/asterdex-futures-api.md`` (§ numbers below refer to it): V1 HMAC
and V3 EIP-712 REST on one loopback port, market and user-data WebSockets on the same port,
real historical candles driving prices, fills, triggers and funding. Usage::

    clock = ManualClock(start)
    async with FakeAsterdex(clock=clock, rebase_to=start) as fake:
        fake.add_hmac_account("key", "secret")
        ...  # a client talks to fake.base_url and fake.ws_url
        clock.advance(timedelta(hours=1))
        await fake.process()  # bars close, orders trigger, events go out

Time: server time is ``clock.now() + clock_skew_ms``. A bar of ``interval`` is closed once
``open + interval <= server time``; the current price and the mark price are the close of the
last closed bar. ``process()`` replays everything up to server time; it also runs at the start
of every request and WebSocket connection and every 50 ms of real time. Without ``rebase_to``
candles keep their historical times (the recorded files end in 2026), so with the wall clock
pass ``rebase_to=datetime.now(UTC)``. The rebase shifts all symbols by one whole number of
intervals, anchored on the symbol whose bar ``start_index`` (default 299: 300 closed bars) is
latest, so every symbol keeps at least that much history and all stay time-aligned.

Data: by default ``<data_dir>/<SYMBOL>-<interval>.csv`` and ``<SYMBOL>-funding.csv``, or their
``.csv.gz`` twins, from ``backend/tests/candles`` (loaded once per session). A test's own
``candles`` must be on the interval grid and increasing (gaps are allowed) and come without
funding unless ``funding_rates`` is given (times in the candles' own, unshifted axis).
``symbols`` defaults to the keys of ``candles`` when those are given.

Choices where the spec is silent (details in each module's docstring):

- Auth (``_auth``): checks run key → mandatory params → signature → timestamp; a signature not
  last is -1022; ``recvWindow`` outside 1..60000 is -1130; a parameter repeated within the query
  or the body is -1101. V3 signs the same ``totalParams`` string; bad signatures are -1022, an
  unknown user/signer pair -2015 (HTTP 401), nonce problems -4225 ("Nonce Expired" or
  "Nonce duplicated: ..."). A V1 path and its V3 twin are the same endpoint.
- Orders (``_validation``, ``_acceptance``): ``newOrderRespType=ACK`` answers the state at
  acceptance (a MARKET order shows NEW), RESULT the state after matching; an omitted client id
  becomes ``fake-<orderId>``; client ids are unique among the *open* orders of the account and
  symbol (-4116); hedge mode can be switched on but orders are then refused with -4061;
  PERCENT_PRICE applies to LIMIT prices; queries find every order ever placed (no 7-day
  limit); DELETE allOpenOrders answers ``{"code": "200", ...}`` (a string, as documented).
- Matching and money (``_matching``, ``_ledger``): one-way positions only; cross-margin
  accounting for all positions; no liquidation engine; stop beats take-profit within a bar;
  fills of a bar are stamped with its close instant; funding is charged at each funding time
  in the data at the mark of that moment.
- Market data (``_market_wire``): klines of any multiple of ``interval`` up to 1d are summed
  from the data; 3d/1w/1M and finer intervals are -1120; the data has no trades, so trade
  counts and taker volumes are 0; ``lastFundingRate`` is the rate of the next funding event;
  the book is synthetic.
- Streams (``_streams``): on a fill ACCOUNT_UPDATE is pushed before the ORDER_TRADE_UPDATE
  TRADE; ACCOUNT_UPDATE for an order always lists the traded symbol's position (even flat);
  an expiring listen key pushes ``listenKeyExpired``; a deleted key goes silent; unknown
  stream names are refused.
- Limits (``_limits``, ``_faults``): weight windows are clock minutes; exceeding the weight
  limit answers 429 (never an automatic 418; only the ``http_418`` fault bans); new orders are
  limited to 300 per 10 s and 1200 per minute per account (-1015).

Test hooks beyond the protocol: ``inject(Fault(...))`` (``after=n`` lets n matching requests
through first; ``fault_hits`` logs every request a fault acted on and until when it refuses),
``set_price(symbol, price)`` (moves the market now: open orders are worked against one bar from
the old price to the new one at the next ``process()``, so stops fire; the price holds until the
data's next bar closes), ``drop_websockets()`` and ``refuse_user_streams()`` (keeps user-data
streams down until called with False).

Not modelled: hedge-mode trading, isolated wallets, liquidation/ADL, ``priceProtect``,
``countdownCancelAll``, order modification and other V3-only endpoints, trade endpoints
(``trades``/``aggTrades``), depth/bookTicker/aggTrade stream data, WebSocket message-rate limits.
"""

from ._accounts import FakeAccount, FakeIncome, FakeOrder, FakePosition, FakeTrade
from ._faults import Fault, FaultHit, FaultKind
from ._http import RecordedRequest
from ._market import FakeCandle
from ._server import DEFAULT_DATA_DIR, FakeAsterdex, NowSource
from ._symbols import DEFAULT_SYMBOL_SPECS, FakeSymbolSpec

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_SYMBOL_SPECS",
    "FakeAccount",
    "FakeAsterdex",
    "FakeCandle",
    "FakeIncome",
    "FakeOrder",
    "FakePosition",
    "FakeSymbolSpec",
    "FakeTrade",
    "Fault",
    "FaultHit",
    "FaultKind",
    "NowSource",
    "RecordedRequest",
]
