"""JSON shapes of market data: klines, mark price / funding, tickers, a synthetic book.

The source data has no trades, so kline trade counts and taker-buy volumes are 0 and the quote
volume is estimated as ``volume * close``; the order book is synthetic: one tick of spread
around the current price, depth growing away from it.
"""

from decimal import Decimal

from ._market import Bar, SymbolSeries
from ._numbers import ZERO, fixed, floor_to, plain
from ._symbols import FakeSymbolSpec

Json = dict[str, object]
DEFAULT_INTEREST_RATE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 8 * 3_600_000


def _quote_volume(bar: Bar) -> Decimal:
    return bar.volume * bar.close


def kline_row(bar: Bar) -> list[object]:
    """One ``GET /fapi/v1/klines`` row (12 elements)."""
    return [
        bar.open_time_ms,
        plain(bar.open),
        plain(bar.high),
        plain(bar.low),
        plain(bar.close),
        plain(bar.volume),
        bar.close_time_ms,
        plain(_quote_volume(bar)),
        0,
        "0",
        "0",
        "0",
    ]


def kline_event(symbol: str, interval: str, bar: Bar, event_ms: int) -> Json:
    """A ``<symbol>@kline_<interval>`` payload."""
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": bar.open_time_ms,
            "T": bar.close_time_ms,
            "s": symbol,
            "i": interval,
            "f": 0,
            "L": 0,
            "o": plain(bar.open),
            "c": plain(bar.close),
            "h": plain(bar.high),
            "l": plain(bar.low),
            "v": plain(bar.volume),
            "n": 0,
            "x": bar.closed,
            "q": plain(_quote_volume(bar)),
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


def next_funding(series: SymbolSeries, now_ms: int) -> tuple[int, Decimal]:
    """Next funding time and the rate it will charge (8 h grid and rate 0 without data)."""
    upcoming = series.next_funding(now_ms)
    if upcoming is not None:
        return upcoming
    return now_ms - now_ms % FUNDING_INTERVAL_MS + FUNDING_INTERVAL_MS, ZERO


def premium_index(series: SymbolSeries, now_ms: int) -> Json:
    """A ``GET /fapi/v1/premiumIndex`` object.

    ``lastFundingRate`` is the rate that will be charged at ``nextFundingTime`` (the exchange
    shows the current period's rate under that name, and the data knows it exactly).
    """
    mark = plain(series.price(now_ms))
    funding_time, rate = next_funding(series, now_ms)
    return {
        "symbol": series.symbol,
        "markPrice": mark,
        "indexPrice": mark,
        "estimatedSettlePrice": mark,
        "lastFundingRate": fixed(rate, 8),
        "nextFundingTime": funding_time,
        "interestRate": fixed(DEFAULT_INTEREST_RATE, 8),
        "time": now_ms,
    }


def mark_price_event(series: SymbolSeries, now_ms: int) -> Json:
    """A ``<symbol>@markPrice`` payload."""
    index = premium_index(series, now_ms)
    return {
        "e": "markPriceUpdate",
        "E": now_ms,
        "s": series.symbol,
        "p": index["markPrice"],
        "i": index["indexPrice"],
        "P": index["estimatedSettlePrice"],
        "r": index["lastFundingRate"],
        "T": index["nextFundingTime"],
    }


def ticker_24h(series: SymbolSeries, now_ms: int) -> Json:
    """A ``GET /fapi/v1/ticker/24hr`` object over the last 24 h of closed bars."""
    bars = series.last_day(now_ms)
    last = series.price(now_ms)
    if not bars:
        first_open = series.first_open_ms()
        bars = [Bar(first_open, series.interval_ms, last, last, last, last, ZERO, False)]
    volume = sum((b.volume for b in bars), ZERO)
    quote = sum((_quote_volume(b) for b in bars), ZERO)
    opening = bars[0].open
    change = last - opening
    return {
        "symbol": series.symbol,
        "priceChange": plain(change),
        "priceChangePercent": fixed(change / opening * 100, 3) if opening else "0.000",
        "weightedAvgPrice": plain(quote / volume) if volume else plain(last),
        "prevClosePrice": plain(opening),
        "lastPrice": plain(last),
        "lastQty": "0",
        "openPrice": plain(opening),
        "highPrice": plain(max(b.high for b in bars)),
        "lowPrice": plain(min(b.low for b in bars)),
        "volume": plain(volume),
        "quoteVolume": plain(quote),
        "openTime": bars[0].open_time_ms,
        "closeTime": bars[-1].close_time_ms,
        "firstId": 0,
        "lastId": 0,
        "count": 0,
    }


def book(
    spec: FakeSymbolSpec, price: Decimal, levels: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Synthetic bids and asks: best bid at or below the price, one tick of spread."""
    best_bid = floor_to(price, spec.tick_size)
    if best_bid == price:
        best_bid -= spec.tick_size
    bids = []
    asks = []
    for level in range(levels):
        qty = spec.qty_text(spec.min_qty * (10 + 5 * level))
        bid = best_bid - spec.tick_size * level
        if bid > 0:
            bids.append([spec.price_text(bid), qty])
        asks.append([spec.price_text(best_bid + spec.tick_size * (level + 1)), qty])
    return bids, asks
