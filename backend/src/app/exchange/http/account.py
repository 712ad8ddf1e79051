"""Account, position and configuration endpoints, and user-stream keys (spec §3.4-3.6)."""

from datetime import datetime, timedelta
from decimal import Decimal

from app.exchange.errors import ExchangeRejected, OrderRejected
from app.exchange.http import endpoints as ep
from app.exchange.http.base import ClientBase
from app.exchange.http.constants import (
    NO_NEED_TO_CHANGE_MARGIN_TYPE,
    NO_NEED_TO_CHANGE_POSITION_SIDE,
)
from app.exchange.http.wire import (
    dec,
    parse_account,
    parse_balance,
    parse_income,
    parse_position_risk,
    parse_user_trade,
    to_ms,
)
from app.exchange.types import AccountInfo, Balance, Income, MarginType, Position, UserTrade

_FILL_INCOME = frozenset({"COMMISSION", "REALIZED_PNL"})
_INCOME_PAGE = 1000  # the income endpoint's largest page


class AccountMixin(ClientBase):
    """Signed account reads and settings."""

    async def balances(self) -> list[Balance]:
        """Every asset's balance."""
        return [parse_balance(row) for row in await self._call(ep.BALANCE)]

    async def account(self) -> AccountInfo:
        """Totals and non-flat positions (V1 ``/fapi/v4/account``)."""
        return parse_account(await self._call(ep.ACCOUNT))

    async def positions(self, symbol: str | None = None) -> list[Position]:
        """Position risk rows; flat positions are left out."""
        params = [("symbol", symbol)] if symbol else []
        rows = [parse_position_risk(row) for row in await self._call(ep.POSITION_RISK, params)]
        return [row for row in rows if row.amount != 0]

    async def user_trades(
        self,
        symbol: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        from_id: int | None = None,
        limit: int = 500,
    ) -> list[UserTrade]:
        """The account's executions on ``symbol``, oldest first."""
        params = [("symbol", symbol)]
        if from_id is not None:
            params.append(("fromId", str(from_id)))
        else:
            if start is not None:
                params.append(("startTime", str(to_ms(start))))
            if end is not None:
                params.append(("endTime", str(to_ms(end))))
        params.append(("limit", str(limit)))
        return [parse_user_trade(row) for row in await self._call(ep.USER_TRADES, params)]

    async def symbols_with_fills(self, since: datetime) -> set[str]:
        """Every symbol with an open position or a fill since ``since``, whoever ordered it.

        ``userTrades`` needs a symbol, so a trade in a symbol nobody asked about (placed by
        hand, a liquidation, an auto-deleverage) is found through what every fill leaves
        behind: a COMMISSION and/or REALIZED_PNL income row, read for the whole account.

        Raises:
            ExchangeError: A read failed.
        """
        symbols = {row.symbol for row in await self.positions()}
        start = since
        while True:
            rows = await self.income(start=start, limit=_INCOME_PAGE)
            symbols.update(r.symbol for r in rows if r.income_type in _FILL_INCOME and r.symbol)
            if len(rows) < _INCOME_PAGE:
                return symbols
            # Times are inclusive: the next page starts at the last row's time (rows read
            # again are harmless); a page all of one millisecond must still move on.
            last = rows[-1].time
            start = last if last > start else start + timedelta(milliseconds=1)

    async def income(
        self,
        *,
        symbol: str | None = None,
        income_type: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
    ) -> list[Income]:
        """Income history (realized PnL, funding fees, commissions …)."""
        params: list[tuple[str, str]] = []
        if symbol:
            params.append(("symbol", symbol))
        if income_type:
            params.append(("incomeType", income_type))
        if start is not None:
            params.append(("startTime", str(to_ms(start))))
        if end is not None:
            params.append(("endTime", str(to_ms(end))))
        params.append(("limit", str(limit)))
        return [parse_income(row) for row in await self._call(ep.INCOME, params)]

    async def commission_rates(self, symbol: str) -> tuple[Decimal, Decimal]:
        """The account's (maker, taker) fee rates on ``symbol``."""
        data = await self._call(ep.COMMISSION_RATE, [("symbol", symbol)])
        return dec(data["makerCommissionRate"]), dec(data["takerCommissionRate"])

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """Set the symbol's leverage (1-125); returns what the exchange applied."""
        if not 1 <= leverage <= 125:
            raise ValueError(f"leverage must be 1..125, not {leverage}")
        data = await self._call(
            ep.LEVERAGE,
            [("symbol", symbol), ("leverage", str(leverage))],
            retry_safe=True,
            rejection=OrderRejected,
        )
        return int(data["leverage"])

    async def set_margin_type(self, symbol: str, margin_type: MarginType) -> bool:
        """Set the symbol's margin type; False when it already was (-4046 is not an error)."""
        try:
            await self._call(
                ep.MARGIN_TYPE,
                [("symbol", symbol), ("marginType", margin_type.value)],
                retry_safe=True,
                rejection=OrderRejected,
            )
        except ExchangeRejected as exc:
            if exc.exchange_code == NO_NEED_TO_CHANGE_MARGIN_TYPE:
                return False
            raise
        return True

    async def set_position_mode(self, *, hedge: bool) -> bool:
        """One-way (False) or hedge (True) mode; False when already so (-4059)."""
        try:
            await self._call(
                ep.POSITION_MODE_SET,
                [("dualSidePosition", "true" if hedge else "false")],
                retry_safe=True,
            )
        except ExchangeRejected as exc:
            if exc.exchange_code == NO_NEED_TO_CHANGE_POSITION_SIDE:
                return False
            raise
        return True

    async def position_mode_is_hedge(self) -> bool:
        """True in hedge (dual-side) mode."""
        data = await self._call(ep.POSITION_MODE_GET)
        return bool(data["dualSidePosition"])

    async def new_listen_key(self) -> str:
        """Create (or extend, if one is active) the user-data stream key."""
        data = await self._call(ep.LISTEN_KEY_NEW, retry_safe=True)
        return str(data["listenKey"])

    async def keepalive_listen_key(self, listen_key: str) -> None:
        """Extend the key by 60 minutes.

        Raises:
            ExchangeRejected: -1125 when the key no longer exists (create a new one).
        """
        await self._call(ep.LISTEN_KEY_KEEPALIVE, [("listenKey", listen_key)], retry_safe=True)

    async def close_listen_key(self, listen_key: str) -> None:
        """Invalidate the key."""
        await self._call(ep.LISTEN_KEY_CLOSE, [("listenKey", listen_key)], retry_safe=True)
