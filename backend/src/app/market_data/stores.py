"""The two candle stores of the market view: the database, and memory."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.core.types import interval_delta
from app.db.session import SessionFactory, session_scope
from app.exchange.types import Kline
from app.market_data import repository as repo
from app.market_data import snapshots_repository as snapshot_repo
from app.market_data.ports import IndicatorValues


class SqlCandleStore:
    """Candles and indicator snapshots in the database (live, paper and replay accounts)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> SessionFactory:
        """The database sessions this store writes with."""
        return self._sessions

    async def latest(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The newest ``count`` stored closed candles of the series, oldest first."""
        async with session_scope(self._sessions) as session:
            return await repo.fetch_candles(session, symbol, interval, limit=count, latest=True)

    async def save(self, candles: Sequence[Kline]) -> int:
        """Store closed candles (those already stored are left alone); how many were new."""
        if not candles:
            return 0
        async with session_scope(self._sessions) as session:
            await repo.relaxed_durability(session)
            return await repo.upsert_candles(session, candles)

    async def gaps(self, symbol: str, interval: str) -> list[datetime]:
        """Grid open times missing between the oldest and the newest stored candle."""
        async with session_scope(self._sessions) as session:
            oldest = await repo.fetch_candles(session, symbol, interval, limit=1)
            newest = await repo.last_open_time(session, symbol, interval)
            if not oldest or newest is None:
                return []
            return await repo.missing_open_times(
                session, symbol, interval, oldest[0].open_time, newest
            )

    async def save_indicators(self, snapshots: Sequence[IndicatorValues], at: datetime) -> None:
        """Store (or replace) indicator snapshots of closed candles, computed at ``at``."""
        if not snapshots:
            return
        async with session_scope(self._sessions) as session:
            await repo.relaxed_durability(session)
            await snapshot_repo.save_snapshots(
                session,
                [(v.symbol, v.interval, v.open_time, v.indicator_set, v.values) for v in snapshots],
                at,
            )


class MemoryCandleStore:
    """Candles and indicator snapshots in memory (backtests, fast tests); nothing persists."""

    def __init__(self) -> None:
        self._candles: dict[tuple[str, str], dict[datetime, Kline]] = {}
        self.snapshots: dict[tuple[str, str, datetime, str], tuple[dict[str, Any], datetime]] = {}
        """Indicator snapshots by (symbol, interval, open time, indicator set): values, when."""

    async def latest(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The newest ``count`` stored closed candles of the series, oldest first."""
        series = self._candles.get((symbol, interval), {})
        return [series[t] for t in sorted(series)[-count:]] if count > 0 else []

    async def save(self, candles: Sequence[Kline]) -> int:
        """Store closed candles (those already stored are left alone); how many were new."""
        if any(not c.closed for c in candles):
            raise ValueError("only closed candles are stored")
        added = 0
        for candle in candles:
            series = self._candles.setdefault((candle.symbol, candle.interval), {})
            if candle.open_time not in series:
                series[candle.open_time] = candle
                added += 1
        return added

    async def gaps(self, symbol: str, interval: str) -> list[datetime]:
        """Grid open times missing between the oldest and the newest stored candle."""
        series = self._candles.get((symbol, interval), {})
        if not series:
            return []
        step, moment, newest = interval_delta(interval), min(series), max(series)
        missing: list[datetime] = []
        while moment <= newest:
            if moment not in series:
                missing.append(moment)
            moment += step
        return missing

    async def save_indicators(self, snapshots: Sequence[IndicatorValues], at: datetime) -> None:
        """Store (or replace) indicator snapshots of closed candles, computed at ``at``."""
        for v in snapshots:
            self.snapshots[(v.symbol, v.interval, v.open_time, v.indicator_set)] = (v.values, at)
