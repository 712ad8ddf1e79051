"""Market data endpoints (security NONE), V1 paths and their ``/fapi/v3/`` twins."""

from ._call import Call
from ._errors import BAD_INTERVAL, DEPTH_LIMIT, START_AFTER_END, error
from ._market import INTERVAL_MS
from ._market_wire import (
    DEFAULT_INTEREST_RATE,
    book,
    kline_row,
    premium_index,
    ticker_24h,
)
from ._numbers import fixed, plain
from ._params import Params
from ._symbols import exchange_info
from ._venue import Venue

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
MAX_KLINES = 1500


def ping(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/ping."""
    return {}


def server_time(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/time."""
    return {"serverTime": call.now_ms}


def exchange_information(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/exchangeInfo."""
    onboard = {symbol: s.first_open_ms() for symbol, s in venue.series.items()}
    return exchange_info(venue.specs.values(), onboard, call.now_ms)


def _time_range(params: Params) -> tuple[int | None, int | None]:
    start = params.optional_int("startTime", low=0)
    end = params.optional_int("endTime", low=0)
    if start is not None and end is not None and start > end:
        raise error(START_AFTER_END)
    return start, end


def _klines(venue: Venue, call: Call, symbol_param: str) -> object:
    params = call.params
    symbol = venue.symbol(params, symbol_param)
    interval = params.require("interval")
    interval_ms = INTERVAL_MS.get(interval)
    if interval_ms is None or interval_ms % venue.interval_ms:
        raise error(BAD_INTERVAL)
    limit = params.int_or("limit", 500, low=1, high=MAX_KLINES)
    start, end = _time_range(params)
    bars = venue.series[symbol].klines(interval_ms, start, end, limit, call.now_ms)
    return [kline_row(bar) for bar in bars]


def klines(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/klines and /fapi/v1/markPriceKlines (mark price = last price here)."""
    return _klines(venue, call, "symbol")


def index_price_klines(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/indexPriceKlines (``pair`` instead of ``symbol``)."""
    return _klines(venue, call, "pair")


def klines_weight(params: Params) -> int:
    """Weight by ``limit``: [1,100) 1; [100,500) 2; [500,1000] 5; above 10."""
    raw = params.optional("limit")
    limit = int(raw) if raw is not None and raw.isdigit() else 500
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    return 5 if limit <= 1000 else 10


def depth(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/depth: a synthetic book around the current price."""
    symbol = venue.symbol(call.params)
    limit = call.params.int_or("limit", 500)
    if limit not in DEPTH_LIMITS:
        raise error(DEPTH_LIMIT)
    bids, asks = book(venue.specs[symbol], venue.engine.price(symbol, call.now_ms), limit)
    return {
        "lastUpdateId": call.now_ms,
        "E": call.now_ms,
        "T": call.now_ms,
        "bids": bids,
        "asks": asks,
    }


def depth_weight(params: Params) -> int:
    """Weight by ``limit``: 5..50 -> 2, 100 -> 5, 500 -> 10, 1000 -> 20."""
    raw = params.optional("limit")
    limit = int(raw) if raw is not None and raw.isdigit() else 500
    if limit <= 50:
        return 2
    return {100: 5, 500: 10}.get(limit, 20)


def _symbols(venue: Venue, call: Call) -> list[str]:
    chosen = venue.optional_symbol(call.params)
    return [chosen] if chosen else list(venue.series)


def _one_or_all(venue: Venue, call: Call, rows: list[object]) -> object:
    return rows[0] if "symbol" in call.params else rows


def premium(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/premiumIndex."""
    rows: list[object] = [
        premium_index(venue.series[s], call.now_ms) for s in _symbols(venue, call)
    ]
    return _one_or_all(venue, call, rows)


def funding_rate(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/fundingRate: settled funding events, oldest first."""
    limit = call.params.int_or("limit", 100, low=1, high=1000)
    start, end = _time_range(call.params)
    rows = []
    for symbol in _symbols(venue, call):
        for funding_ms, rate in venue.series[symbol].funding_history(
            start, end, limit, call.now_ms
        ):
            rows.append(
                {"symbol": symbol, "fundingRate": fixed(rate, 8), "fundingTime": funding_ms}
            )
    rows.sort(key=lambda row: (row["fundingTime"], row["symbol"]))
    return rows[-limit:] if start is None else rows[:limit]


def funding_info(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/fundingInfo."""
    return [
        {
            "symbol": symbol,
            "interestRate": fixed(DEFAULT_INTEREST_RATE, 8),
            "time": call.now_ms,
            "fundingIntervalHours": 8,
            "fundingFeeCap": 0.02,
            "fundingFeeFloor": -0.02,
        }
        for symbol in _symbols(venue, call)
    ]


def ticker_day(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/ticker/24hr."""
    rows: list[object] = [ticker_24h(venue.series[s], call.now_ms) for s in _symbols(venue, call)]
    return _one_or_all(venue, call, rows)


def ticker_price(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/ticker/price."""
    rows: list[object] = [
        {"symbol": s, "price": plain(venue.engine.price(s, call.now_ms)), "time": call.now_ms}
        for s in _symbols(venue, call)
    ]
    return _one_or_all(venue, call, rows)


def book_ticker(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/ticker/bookTicker: the top of the synthetic book."""
    rows: list[object] = []
    for symbol in _symbols(venue, call):
        bids, asks = book(venue.specs[symbol], venue.engine.price(symbol, call.now_ms), 1)
        rows.append(
            {
                "symbol": symbol,
                "bidPrice": bids[0][0] if bids else "0",
                "bidQty": bids[0][1] if bids else "0",
                "askPrice": asks[0][0],
                "askQty": asks[0][1],
                "time": call.now_ms,
            }
        )
    return _one_or_all(venue, call, rows)
