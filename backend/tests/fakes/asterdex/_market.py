"""Candles and funding rates on the server's time axis, and the kline queries built on them.

Every time here is epoch milliseconds of *server* time. The source candles keep their own
times; a series adds one constant ``shift_ms`` (the rebase) when it answers, so the large
recorded files are loaded once per test session and never copied.

A bar is *closed* once ``open + interval <= now``. The bar with ``open <= now`` that is not
closed yet is the *forming* bar: klines show it as if it were complete (the data knows its
future), with a close time ``open + interval - 1`` later than ``now``. The current price (and
the mark price) is the close of the last closed bar, or the first bar's open before any bar
has closed.
"""

import csv
import gzip
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TextIO

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
}
# Valid on the exchange but not served by the fake: their bars are not aligned to the epoch
# (weeks start on Monday, months have no fixed length), so they cannot be summed from the data.
UNSERVED_INTERVALS = frozenset({"3d", "1w", "1M"})
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class FakeCandle:
    """One source candle, keyed by its open time (epoch ms), prices in quote currency."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Bar:
    """A candle on the server's time axis, possibly summed from several source candles."""

    open_time_ms: int
    interval_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool

    @property
    def close_time_ms(self) -> int:
        """The last millisecond of the bar (the kline's close time)."""
        return self.open_time_ms + self.interval_ms - 1


def _open_of(candle: FakeCandle) -> int:
    return candle.open_time_ms


def data_file(path: Path) -> Path:
    """``path``, or its gzip-compressed twin ``<path>.gz`` when only that one exists."""
    compressed = path.with_name(f"{path.name}.gz")
    return compressed if not path.exists() and compressed.exists() else path


def _open_csv(path: Path) -> TextIO:
    path = data_file(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open(newline="", encoding="utf-8")


@lru_cache(maxsize=64)
def read_candles(path: Path) -> tuple[FakeCandle, ...]:
    """Read ``open_time_ms,open,high,low,close,volume`` rows (cached for the session).

    ``x.csv`` also finds ``x.csv.gz``.
    """
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        next(reader)
        return tuple(
            FakeCandle(int(t), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))
            for t, o, h, lo, c, v in reader
        )


@lru_cache(maxsize=64)
def read_funding(path: Path) -> tuple[tuple[int, Decimal], ...]:
    """Read ``funding_time_ms,funding_rate`` rows (cached for the session); ``.gz`` too."""
    with _open_csv(path) as handle:
        reader = csv.reader(handle)
        next(reader)
        return tuple((int(t), Decimal(rate)) for t, rate in reader)


def check_candles(symbol: str, candles: Sequence[FakeCandle], interval_ms: int) -> None:
    """Reject candles the fake cannot replay: empty, unsorted or off the interval grid."""
    if not candles:
        raise ValueError(f"{symbol}: no candles")
    previous: int | None = None
    for candle in candles:
        if candle.open_time_ms % interval_ms:
            raise ValueError(f"{symbol}: candle {candle.open_time_ms} is not on the interval grid")
        if previous is not None and candle.open_time_ms <= previous:
            raise ValueError(f"{symbol}: candles must be strictly increasing in open time")
        previous = candle.open_time_ms


class SymbolSeries:
    """The candles and funding rates of one symbol, shifted onto server time."""

    def __init__(
        self,
        symbol: str,
        candles: Sequence[FakeCandle],
        funding: Sequence[tuple[int, Decimal]],
        interval_ms: int,
        shift_ms: int,
    ) -> None:
        self.symbol = symbol
        self.interval_ms = interval_ms
        self.shift_ms = shift_ms
        self._candles = candles
        self.override: Decimal | None = None
        """A price a test moved the market to; the next closing bar of the data ends it."""
        self._funding_times = [t + shift_ms for t, _ in funding]
        self._funding_rates = [rate for _, rate in funding]

    # -- bars -----------------------------------------------------------------------------

    def _count_open_by(self, server_ms: int) -> int:
        """How many source candles open at or before ``server_ms``."""
        return bisect_right(self._candles, server_ms - self.shift_ms, key=_open_of)

    def closed_count(self, now_ms: int) -> int:
        """How many bars have closed by ``now_ms`` (they are the first ``n`` candles)."""
        return self._count_open_by(now_ms - self.interval_ms)

    def bar(self, index: int, now_ms: int) -> Bar:
        """Source candle ``index`` as a base-interval bar."""
        candle = self._candles[index]
        opened = candle.open_time_ms + self.shift_ms
        return Bar(
            opened,
            self.interval_ms,
            candle.open,
            candle.high,
            candle.low,
            candle.close,
            candle.volume,
            opened + self.interval_ms <= now_ms,
        )

    def first_open_ms(self) -> int:
        """Open time of the first bar."""
        return self._candles[0].open_time_ms + self.shift_ms

    def price(self, now_ms: int) -> Decimal:
        """The last price (and mark price): a moved price, else close of the last closed bar."""
        if self.override is not None:
            return self.override
        closed = self.closed_count(now_ms)
        if closed == 0:
            return self._candles[0].open
        return self._candles[closed - 1].close

    def closing_between(self, after_ms: int, upto_ms: int) -> range:
        """Indices of the bars that close in ``(after_ms, upto_ms]``."""
        return range(self.closed_count(after_ms), self.closed_count(upto_ms))

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int, now_ms: int
    ) -> list[Bar]:
        """Bars of ``interval_ms`` opening in ``[start, end]`` and at or before ``now_ms``.

        With ``start`` the first ``limit`` bars from it, otherwise the last ``limit``.
        """
        upto = now_ms if end is None else min(end, now_ms)
        if interval_ms == self.interval_ms:
            high = self._count_open_by(upto)
            if start is not None:
                low = bisect_left(self._candles, start - self.shift_ms, key=_open_of)
                indices = range(low, min(high, low + limit))
            else:
                indices = range(max(0, high - limit), high)
            return [self.bar(i, now_ms) for i in indices]
        last_bucket = upto - upto % interval_ms
        if start is not None:
            first_bucket = -(-start // interval_ms) * interval_ms
            last_bucket = min(last_bucket, first_bucket + (limit - 1) * interval_ms)
        else:
            first_bucket = last_bucket - (limit - 1) * interval_ms
        # ``end`` picks the bars, not their content: a bar opening before ``end`` holds every
        # base bar opened by now, as AsterDEX serves a past bar whole whatever the endTime.
        return self._aggregate(interval_ms, first_bucket, last_bucket, now_ms, now_ms)

    def closed_aggregate(self, interval_ms: int, index: int, now_ms: int) -> Bar | None:
        """The ``interval_ms`` bar that base bar ``index`` completes, if it completes one."""
        closes_at = self._candles[index].open_time_ms + self.shift_ms + self.interval_ms
        if closes_at % interval_ms:
            return None
        bucket = closes_at - interval_ms
        bars = self._aggregate(interval_ms, bucket, bucket, closes_at - 1, now_ms)
        return bars[0] if bars else None

    def _aggregate(
        self, interval_ms: int, first_bucket: int, last_bucket: int, upto: int, now_ms: int
    ) -> list[Bar]:
        low = bisect_left(self._candles, first_bucket - self.shift_ms, key=_open_of)
        high = self._count_open_by(min(upto, last_bucket + interval_ms - 1))
        groups: dict[int, list[FakeCandle]] = {}
        for candle in self._candles[low:high]:
            opened = candle.open_time_ms + self.shift_ms
            groups.setdefault(opened - opened % interval_ms, []).append(candle)
        return [
            Bar(
                bucket,
                interval_ms,
                members[0].open,
                max(c.high for c in members),
                min(c.low for c in members),
                members[-1].close,
                sum((c.volume for c in members), Decimal(0)),
                bucket + interval_ms <= now_ms,
            )
            for bucket, members in groups.items()
        ]

    def last_day(self, now_ms: int) -> list[Bar]:
        """The closed bars of the last 24 hours (the 24 h ticker's window)."""
        closed = self.closed_count(now_ms)
        count = max(1, DAY_MS // self.interval_ms)
        return [self.bar(i, now_ms) for i in range(max(0, closed - count), closed)]

    # -- funding ----------------------------------------------------------------------------

    def funding_between(self, after_ms: int, upto_ms: int) -> list[tuple[int, Decimal]]:
        """Funding events with a time in ``(after_ms, upto_ms]``."""
        low = bisect_right(self._funding_times, after_ms)
        high = bisect_right(self._funding_times, upto_ms)
        return [(self._funding_times[i], self._funding_rates[i]) for i in range(low, high)]

    def next_funding(self, now_ms: int) -> tuple[int, Decimal] | None:
        """The first funding event after ``now_ms`` (time and the rate it will charge)."""
        index = bisect_right(self._funding_times, now_ms)
        if index == len(self._funding_times):
            return None
        return self._funding_times[index], self._funding_rates[index]

    def funding_history(
        self, start: int | None, end: int | None, limit: int, now_ms: int
    ) -> list[tuple[int, Decimal]]:
        """Settled funding events in ``[start, end]``: first ``limit`` from start, else last."""
        upto = now_ms if end is None else min(end, now_ms)
        high = bisect_right(self._funding_times, upto)
        if start is not None:
            low = bisect_left(self._funding_times, start)
            indices = range(low, min(high, low + limit))
        else:
            indices = range(max(0, high - limit), high)
        return [(self._funding_times[i], self._funding_rates[i]) for i in indices]


def rebase_shift(
    candles: dict[str, Sequence[FakeCandle]],
    interval_ms: int,
    rebase_ms: int,
    start_index: int | None,
) -> int:
    """The one shift that makes bar ``start_index`` the last closed bar at ``rebase_ms``.

    With several symbols the anchor is the symbol whose bar ``start_index`` is the latest, so
    every symbol keeps at least ``start_index`` bars of history and all stay time-aligned.
    """
    anchor = max(
        series[min(300 - 1 if start_index is None else start_index, len(series) - 1)].open_time_ms
        for series in candles.values()
    )
    last_closed_open = rebase_ms - rebase_ms % interval_ms - interval_ms
    return last_closed_open - anchor


def load_series(
    symbols: Sequence[str],
    interval: str,
    *,
    candles: Mapping[str, Sequence[FakeCandle]],
    data_dir: Path,
    funding_rates: Mapping[str, Sequence[tuple[int, Decimal]]] | None,
    rebase_ms: int | None,
    start_index: int | None,
) -> dict[str, SymbolSeries]:
    """Every symbol's series: a test's own candles, else the CSV files, rebased together."""
    if interval not in INTERVAL_MS:
        raise ValueError(f"unsupported interval {interval!r}")
    interval_ms = INTERVAL_MS[interval]
    bars: dict[str, Sequence[FakeCandle]] = {}
    rates: dict[str, Sequence[tuple[int, Decimal]]] = {}
    for symbol in symbols:
        custom = candles.get(symbol)
        if custom is not None:
            check_candles(symbol, custom, interval_ms)
            bars[symbol] = tuple(custom)
            rates[symbol] = ()
        else:
            bars[symbol] = read_candles(data_dir / f"{symbol}-{interval}.csv")
            funding_file = data_file(data_dir / f"{symbol}-funding.csv")
            rates[symbol] = read_funding(funding_file) if funding_file.exists() else ()
        if funding_rates is not None:
            rates[symbol] = tuple(funding_rates.get(symbol, ()))
    shift = 0 if rebase_ms is None else rebase_shift(bars, interval_ms, rebase_ms, start_index)
    return {
        symbol: SymbolSeries(symbol, bars[symbol], rates[symbol], interval_ms, shift)
        for symbol in symbols
    }
