"""Recorded candles as a market data source: CSV files, for ``--replay`` demos and backtests.

Files are named ``<SYMBOL>-<interval>.csv`` with the header
``open_time_ms,open,high,low,close,volume``, and optionally ``<SYMBOL>-funding.csv``
(``funding_time_ms,funding_rate``); each may be gzip-compressed (``.csv.gz``, as in
``backend/tests/candles``). A small sample of real candles ships inside the package
(``sample/``) so the quick start runs offline.

Time is the clock's: a candle is closed once its close time has passed. With ``anchor`` the
whole recording is shifted so that its last candle closes at the anchor time, so the replay
"ends now" and the agent sees recent-looking data.
"""

import csv
import gzip
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Final, TextIO

from app.core.clock import Clock
from app.core.types import KLINE_INTERVALS_MS
from app.exchange.types import Kline, PremiumIndex

SAMPLE_DIR: Final = Path(__file__).resolve().parent / "sample"


class ReplayDataError(ValueError):
    """A recording is missing or malformed (names the file and line)."""


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One recorded candle, as read from a CSV file."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def kline(
        self, symbol: str, interval: str, *, shift_ms: int = 0, now_ms: int | None = None
    ) -> Kline:
        """This row as a kline, moved by ``shift_ms``; closed unless it ends after ``now_ms``.

        The recordings have no trades, so the quote volume is volume x close.
        """
        open_ms = self.open_ms + shift_ms
        length = KLINE_INTERVALS_MS[interval]
        return Kline(
            symbol=symbol,
            interval=interval,
            open_time=datetime.fromtimestamp(open_ms / 1000, UTC),
            close_time=datetime.fromtimestamp((open_ms + length - 1) / 1000, UTC),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            quote_volume=self.volume * self.close,
            trade_count=0,
            closed=now_ms is None or open_ms + length <= now_ms,
        )


def recording(path: Path) -> Path | None:
    """``path`` if it is a file, else its gzip-compressed twin ``<path>.gz``, else None."""
    if path.is_file():
        return path
    compressed = path.with_name(f"{path.name}.gz")
    return compressed if path.suffix != ".gz" and compressed.is_file() else None


def open_recording(path: Path) -> TextIO:
    """A text handle on a CSV recording, decompressed when the name ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open(newline="", encoding="utf-8")


def read_candle_csv(path: Path) -> list[CandleRow]:
    """Rows of one candle file, oldest first; ``x.csv`` also finds ``x.csv.gz``.

    Raises:
        ReplayDataError: The file is missing, or a line is malformed.
    """
    found = recording(path)
    if found is None:
        raise ReplayDataError(f"no candle file {path}")
    path = found
    rows: list[CandleRow] = []
    with open_recording(path) as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(
                    CandleRow(
                        int(record["open_time_ms"]),
                        Decimal(record["open"]),
                        Decimal(record["high"]),
                        Decimal(record["low"]),
                        Decimal(record["close"]),
                        Decimal(record["volume"]),
                    )
                )
            except (KeyError, ValueError, ArithmeticError) as exc:
                raise ReplayDataError(f"{path}:{number}: malformed candle row ({exc})") from exc
    return rows


class ReplayMarketData:
    """:class:`~app.market_data.ports.MarketDataSource` over recorded CSV candles.

    Intervals without a file are aggregated from the finest recorded interval that divides
    them (e.g. 4h from 1h).
    """

    def __init__(
        self, clock: Clock, data_dir: Path = SAMPLE_DIR, *, anchor: datetime | None = None
    ) -> None:
        self._clock = clock
        self._dir = data_dir
        self._series: dict[tuple[str, str], list[CandleRow]] = {}
        self._keys: dict[tuple[str, str], list[int]] = {}
        self._recordings: list[tuple[str, str]] | None = None
        self._funding: dict[str, list[tuple[int, Decimal]]] = {}
        self._funding_times: dict[str, list[int]] = {}
        # Closed klines already made, by (symbol, interval) and row index: a backtest asks
        # for the same recent candles at every cycle.
        self._made: dict[tuple[str, str], dict[int, Kline]] = {}
        self._intervals_of: dict[str, list[str]] = {}
        self._shift_ms = 0
        if anchor is not None:
            self._shift_ms = self._shift_to(anchor)

    @classmethod
    def from_rows(
        cls,
        clock: Clock,
        series: Mapping[tuple[str, str], Sequence[CandleRow]],
        funding: Mapping[str, Sequence[tuple[int, Decimal]]] | None = None,
    ) -> "ReplayMarketData":
        """A recording already in memory (e.g. read from the database).

        ``series`` is keyed by ``(symbol, interval)``; ``funding`` holds
        ``(funding_time_ms, rate)`` per symbol. Intervals not given are aggregated from a
        finer one, as with files.
        """
        source = cls(clock, Path("/nonexistent"))
        source._recordings = sorted(key for key, rows in series.items() if rows)
        for key, rows in series.items():
            ordered = sorted(rows, key=lambda row: row.open_ms)
            source._series[key] = ordered
            source._keys[key] = [row.open_ms for row in ordered]
        for symbol in {symbol for symbol, _ in series}:
            source._funding[symbol] = list((funding or {}).get(symbol, ()))
        return source

    def at(self, clock: Clock) -> "ReplayMarketData":
        """The same recording on another clock, sharing what was already read.

        A backtest reads its recording once and runs each pass (and its report) on a clock
        of its own.
        """
        twin = ReplayMarketData(clock, self._dir)
        twin._series, twin._keys, twin._funding = self._series, self._keys, self._funding
        twin._recordings, twin._funding_times = self._recordings, self._funding_times
        twin._shift_ms, twin._made = self._shift_ms, self._made
        return twin

    def _shift_to(self, anchor: datetime) -> int:
        latest_close = max(
            rows[-1].open_ms + KLINE_INTERVALS_MS[interval]
            for (symbol, interval) in self._files()
            if (rows := self._load(symbol, interval))
        )
        anchor_ms = int(anchor.timestamp() * 1000)
        hour = 3_600_000
        return (anchor_ms - latest_close) // hour * hour  # keep bars on interval boundaries

    def _files(self) -> list[tuple[str, str]]:
        if self._recordings is not None:
            return self._recordings
        pairs: set[tuple[str, str]] = set()
        for path in [*self._dir.glob("*-*.csv"), *self._dir.glob("*-*.csv.gz")]:
            symbol, _, interval = path.name.removesuffix(".gz").removesuffix(".csv").partition("-")
            if interval in KLINE_INTERVALS_MS:
                pairs.add((symbol, interval))
        self._recordings = sorted(pairs)
        return self._recordings

    def _load(self, symbol: str, interval: str) -> list[CandleRow]:
        key = (symbol, interval)
        if key not in self._series:
            path = self._dir / f"{symbol}-{interval}.csv"
            self._series[key] = (
                read_candle_csv(path) if recording(path) else self._aggregate(symbol, interval)
            )
            self._keys[key] = [row.open_ms for row in self._series[key]]
        return self._series[key]

    def _aggregate(self, symbol: str, interval: str) -> list[CandleRow]:
        target = KLINE_INTERVALS_MS[interval]
        bases = sorted(
            (KLINE_INTERVALS_MS[i], i)
            for s, i in self._files()
            if s == symbol
            and target % KLINE_INTERVALS_MS[i] == 0
            and KLINE_INTERVALS_MS[i] < target
        )
        if not bases:
            raise ReplayDataError(f"no recording of {symbol} at {interval} or a finer interval")
        base = self._load(symbol, bases[0][1])
        buckets: dict[int, list[CandleRow]] = {}
        for row in base:
            buckets.setdefault(row.open_ms - row.open_ms % target, []).append(row)
        per_bucket = target // bases[0][0]
        return [
            CandleRow(
                start,
                g[0].open,
                max(r.high for r in g),
                min(r.low for r in g),
                g[-1].close,
                sum((r.volume for r in g), Decimal(0)),
            )
            for start, g in sorted(buckets.items())
            if len(g) == per_bucket
        ]

    async def symbols(self) -> set[str]:
        """Symbols with at least one recording."""
        return {symbol for symbol, _ in self._files()}

    async def candles(
        self, symbol: str, interval: str, *, start: datetime, end: datetime | None = None
    ) -> list[Kline]:
        """Recorded candles in range that have opened by now (the last may be forming)."""
        rows = self._load(symbol, interval)
        keys = self._keys[(symbol, interval)]  # recorded open times, unshifted
        now_ms = int(self._clock.now().timestamp() * 1000)
        opened = bisect_right(keys, now_ms - self._shift_ms)
        first = bisect_left(keys, int(start.timestamp() * 1000) - self._shift_ms, hi=opened)
        last = opened
        if end is not None:
            last = bisect_right(keys, int(end.timestamp() * 1000) - self._shift_ms, hi=opened)
        made = self._made.setdefault((symbol, interval), {})
        result: list[Kline] = []
        for index in range(first, last):
            kline = made.get(index)
            if kline is None:
                kline = rows[index].kline(symbol, interval, shift_ms=self._shift_ms, now_ms=now_ms)
                if kline.closed:  # a closed candle never changes: made once per run
                    made[index] = kline
            result.append(kline)
        return result

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Mark price = last closed close of the finest recording that covers now.

        A finer recording that starts later (the bundled 15m files begin in 2025-11) gives
        way to a coarser one before its start. Funding comes from the funding file.
        """
        now = self._clock.now()
        now_ms = int(now.timestamp() * 1000) - self._shift_ms
        close: Decimal | None = None
        for interval in self._by_length(symbol):
            rows, keys = self._load(symbol, interval), self._keys[(symbol, interval)]
            length = KLINE_INTERVALS_MS[interval]
            # The newest row closed by now (opened at or before now - length), if it opened
            # within the last three bars; else this recording does not cover now (a coarser
            # one may). Never the forming bar: its close is not known yet.
            index = bisect_right(keys, now_ms - length) - 1
            if index >= 0 and keys[index] >= now_ms - 3 * length:
                close = rows[index].close
                break
        if close is None:
            raise ReplayDataError(f"the {symbol} recording has no candle before {now}")
        rate, next_time = self._funding_at(symbol, now)
        return PremiumIndex(
            symbol=symbol,
            mark_price=close,
            index_price=close,
            last_funding_rate=rate,
            next_funding_time=next_time,
            time=now,
        )

    def _by_length(self, symbol: str) -> list[str]:
        """The symbol's recorded intervals, finest first."""
        found = self._intervals_of.get(symbol)
        if found is None:
            found = sorted((i for s, i in self._files() if s == symbol), key=_length)
            self._intervals_of[symbol] = found
        return found

    def _funding_at(self, symbol: str, now: datetime) -> tuple[Decimal, datetime]:
        if symbol not in self._funding:
            path = recording(self._dir / f"{symbol}-funding.csv")
            rows: list[tuple[int, Decimal]] = []
            if path is not None:
                with open_recording(path) as handle:
                    for record in csv.DictReader(handle):
                        rows.append(
                            (int(record["funding_time_ms"]), Decimal(record["funding_rate"]))
                        )
            self._funding[symbol] = rows
        now_ms = int(now.timestamp() * 1000)
        times = self._funding_times.get(symbol)
        if times is None:  # shifted once: this runs for every symbol at every tick
            times = [t + self._shift_ms for t, _ in self._funding[symbol]]
            self._funding_times[symbol] = times
        index = bisect_right(times, now_ms)
        eight_hours = 8 * 3_600_000
        next_ms = times[index] if index < len(times) else (now_ms // eight_hours + 1) * eight_hours
        rate = self._funding[symbol][index][1] if index < len(times) else Decimal(0)
        return rate, datetime.fromtimestamp(next_ms / 1000, UTC)


def _length(interval: str) -> int:
    return KLINE_INTERVALS_MS[interval]
