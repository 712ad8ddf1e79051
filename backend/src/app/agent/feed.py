"""The market side of a cycle: fresh candles and marks, paper matching, funding settlement."""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from app.agent.ports import Journal
from app.exchange.ports import Exchange
from app.market_data.ports import MarketView


class MarketFeed:
    """Brings one account's symbols up to date and hands the news to its exchange.

    A simulated exchange matches stops and targets on every newly closed candle and charges
    funding once a funding time has passed; a live exchange ignores both.
    """

    def __init__(
        self,
        account_id: str,
        interval: str,
        market: MarketView,
        exchange: Exchange,
        journal: Journal,
    ) -> None:
        self._account = account_id
        self._interval = interval
        self._market = market
        self._exchange = exchange
        self._journal = journal
        self._fed: dict[str, datetime] = {}
        self._funding: dict[str, tuple[datetime, Decimal]] = {}

    async def advance(self, symbols: Sequence[str], now: datetime) -> None:
        """Bring ``symbols`` up to date for a cycle at ``now``.

        Fresh candles (one write), then per symbol: exchange matching, a fresh mark, due
        funding, the next funding.
        """
        await self._market.refresh(symbols)
        for symbol in symbols:
            await self._feed_exchange(symbol)
            # The mark first: funding is owed at the mark of the funding time, and the mark
            # of the previous look is an interval old.
            await self._market.refresh_mark(symbol)
            await self._settle_funding(symbol, now)
            self._note_funding(symbol)

    async def _feed_exchange(self, symbol: str) -> None:
        """Hand every newly closed decision-interval candle to the exchange (paper matching)."""
        candles = await self._market.closed_candles(symbol, self._interval, 50)
        if not candles:
            return
        last = self._fed.get(symbol)
        if last is None:
            # First look: earlier candles were matched before this process started; only
            # the current price is news.
            await self._exchange.on_closed_candle(candles[-1])
            self._fed[symbol] = candles[-1].open_time
            return
        # Oldest first, only those after the last one fed (usually just the newest).
        fresh = len(candles)
        while fresh > 0 and candles[fresh - 1].open_time > last:
            fresh -= 1
        for candle in candles[fresh:]:
            await self._exchange.on_closed_candle(candle)
            last = candle.open_time
        self._fed[symbol] = last

    def _note_funding(self, symbol: str) -> None:
        mark = self._market.mark(symbol)
        if mark is not None:
            self._funding[symbol] = (mark.next_funding_time, mark.funding_rate)

    async def _settle_funding(self, symbol: str, now: datetime) -> None:
        """Charge the funding announced at the last look once its time has passed.

        The notional is valued at the first mark read at or after the funding time (the one
        just refreshed), never at a mark from before it.
        """
        due = self._funding.get(symbol)
        mark = self._market.mark(symbol)
        if due is None or mark is None or now < due[0] or mark.time < due[0]:
            return
        paid = await self._exchange.settle_funding(symbol, due[1], mark.mark_price)
        del self._funding[symbol]
        if paid:
            await self._journal.event(
                self._account,
                "funding",
                at=now,
                message=f"{symbol}: funding {due[1]} at {due[0].isoformat()}: {paid} USDT",
                payload={"symbol": symbol, "rate": due[1], "amount": paid},
            )
