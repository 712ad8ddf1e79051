"""JSON of the AsterDEX REST API -> domain values (spec §3). Numbers arrive as strings.

Every parser raises :class:`ExchangeProtocolError` when the shape is not what the spec says,
so a malformed answer never turns into a silently wrong value.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any

from app.core.types import KLINE_INTERVALS_MS
from app.exchange.errors import ExchangeProtocolError
from app.exchange.types import (
    AccountInfo,
    Balance,
    ExchangeOrder,
    FundingRate,
    Income,
    Kline,
    OrderBook,
    OrderStatus,
    Position,
    PremiumIndex,
    Side,
    Ticker24h,
    UserTrade,
)


def dec(value: Any) -> Decimal:
    """A decimal from the wire (string or number); refuses NaN and infinities."""
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def ms(value: Any) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def to_ms(when: datetime) -> int:
    """Aware datetime -> epoch milliseconds."""
    return int(when.timestamp() * 1000)


def protocol_parser[T](func: Callable[..., T]) -> Callable[..., T]:
    """Turn a parser's KeyError/ValueError/... into :class:`ExchangeProtocolError`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except (KeyError, TypeError, ValueError, IndexError, InvalidOperation) as exc:
            raise ExchangeProtocolError(
                f"unexpected {func.__name__.removeprefix('parse_')} payload: "
                f"{exc.__class__.__name__}: {exc}"
            ) from exc

    return wrapper


@protocol_parser
def parse_kline(symbol: str, interval: str, row: list[Any], server_now_ms: int) -> Kline:
    """One ``klines`` row; closed when its close time has passed on the server's clock."""
    open_ms, close_ms = int(row[0]), int(row[6])
    if interval in KLINE_INTERVALS_MS and interval != "1M":
        # Some servers report the last ms of the bar, some the next bar's open: normalise.
        close_ms = open_ms + KLINE_INTERVALS_MS[interval] - 1
    return Kline(
        symbol=symbol,
        interval=interval,
        open_time=ms(open_ms),
        close_time=ms(close_ms),
        open=dec(row[1]),
        high=dec(row[2]),
        low=dec(row[3]),
        close=dec(row[4]),
        volume=dec(row[5]),
        quote_volume=dec(row[7]),
        trade_count=int(row[8]),
        closed=close_ms < server_now_ms,
    )


@protocol_parser
def parse_premium_index(data: dict[str, Any]) -> PremiumIndex:
    """``premiumIndex`` for one symbol."""
    return PremiumIndex(
        symbol=data["symbol"],
        mark_price=dec(data["markPrice"]),
        index_price=dec(data.get("indexPrice", data["markPrice"])),
        last_funding_rate=dec(data.get("lastFundingRate", "0")),
        next_funding_time=ms(data.get("nextFundingTime", 0)),
        time=ms(data.get("time", 0)),
    )


@protocol_parser
def parse_funding_rate(data: dict[str, Any]) -> FundingRate:
    """One ``fundingRate`` history row."""
    return FundingRate(
        symbol=data["symbol"], rate=dec(data["fundingRate"]), time=ms(data["fundingTime"])
    )


@protocol_parser
def parse_ticker(data: dict[str, Any]) -> Ticker24h:
    """``ticker/24hr`` for one symbol."""
    return Ticker24h(
        symbol=data["symbol"],
        last_price=dec(data["lastPrice"]),
        price_change_percent=dec(data["priceChangePercent"]),
        high_price=dec(data["highPrice"]),
        low_price=dec(data["lowPrice"]),
        volume=dec(data["volume"]),
        quote_volume=dec(data["quoteVolume"]),
    )


@protocol_parser
def parse_order_book(data: dict[str, Any]) -> OrderBook:
    """``depth`` snapshot."""
    return OrderBook(
        last_update_id=int(data["lastUpdateId"]),
        bids=tuple((dec(p), dec(q)) for p, q in data["bids"]),
        asks=tuple((dec(p), dec(q)) for p, q in data["asks"]),
    )


@protocol_parser
def parse_order(data: dict[str, Any]) -> ExchangeOrder:
    """An order object (new / query / cancel / open orders)."""
    return ExchangeOrder(
        symbol=data["symbol"],
        order_id=int(data["orderId"]),
        client_order_id=data["clientOrderId"],
        side=Side(data["side"]),
        type=data["type"],
        status=OrderStatus(data["status"]),
        orig_qty=dec(data.get("origQty", "0")),
        executed_qty=dec(data.get("executedQty", "0")),
        price=dec(data.get("price", "0")),
        avg_price=dec(data.get("avgPrice", "0")),
        stop_price=dec(data.get("stopPrice", "0")),
        reduce_only=_bool(data.get("reduceOnly", False)),
        close_position=_bool(data.get("closePosition", False)),
        working_type=data.get("workingType"),
        update_time=ms(data.get("updateTime", data.get("time", 0))),
    )


@protocol_parser
def parse_balance(data: dict[str, Any]) -> Balance:
    """One ``balance`` row."""
    return Balance(
        asset=data["asset"],
        balance=dec(data["balance"]),
        available_balance=dec(data["availableBalance"]),
        cross_unrealized_pnl=dec(data.get("crossUnPnl", "0")),
    )


@protocol_parser
def parse_position_risk(data: dict[str, Any]) -> Position:
    """One ``positionRisk`` row."""
    liquidation = dec(data.get("liquidationPrice", "0"))
    return Position(
        symbol=data["symbol"],
        amount=dec(data["positionAmt"]),
        entry_price=dec(data["entryPrice"]),
        unrealized_pnl=dec(data.get("unRealizedProfit", "0")),
        leverage=int(dec(data.get("leverage", "1"))),
        isolated=str(data.get("marginType", "cross")).lower() == "isolated",
        mark_price=dec(data["markPrice"]) if "markPrice" in data else None,
        liquidation_price=liquidation if liquidation > 0 else None,
        position_side=data.get("positionSide", "BOTH"),
    )


@protocol_parser
def parse_account(data: dict[str, Any]) -> AccountInfo:
    """``account`` (V1 v4 / V3 accountWithJoinMargin); only non-flat positions are kept."""
    positions = tuple(
        Position(
            symbol=p["symbol"],
            amount=dec(p["positionAmt"]),
            entry_price=dec(p["entryPrice"]),
            unrealized_pnl=dec(p.get("unrealizedProfit", "0")),
            leverage=int(dec(p.get("leverage", "1"))),
            isolated=_bool(p.get("isolated", False)),
            position_side=p.get("positionSide", "BOTH"),
        )
        for p in data.get("positions", [])
        if dec(p["positionAmt"]) != 0
    )
    return AccountInfo(
        total_wallet_balance=dec(data["totalWalletBalance"]),
        total_unrealized_profit=dec(data["totalUnrealizedProfit"]),
        total_margin_balance=dec(data["totalMarginBalance"]),
        available_balance=dec(data["availableBalance"]),
        total_initial_margin=dec(data.get("totalInitialMargin", "0")),
        total_maint_margin=dec(data.get("totalMaintMargin", "0")),
        positions=positions,
    )


@protocol_parser
def parse_user_trade(data: dict[str, Any]) -> UserTrade:
    """One ``userTrades`` row."""
    return UserTrade(
        symbol=data["symbol"],
        trade_id=int(data["id"]),
        order_id=int(data["orderId"]),
        side=Side(data["side"]),
        price=dec(data["price"]),
        quantity=dec(data["qty"]),
        realized_pnl=dec(data.get("realizedPnl", "0")),
        commission=dec(data.get("commission", "0")),
        commission_asset=data.get("commissionAsset", ""),
        maker=_bool(data.get("maker", False)),
        time=ms(data["time"]),
    )


@protocol_parser
def parse_income(data: dict[str, Any]) -> Income:
    """One ``income`` row."""
    return Income(
        symbol=data.get("symbol", ""),
        income_type=data["incomeType"],
        income=dec(data["income"]),
        asset=data.get("asset", ""),
        time=ms(data["time"]),
        tran_id=str(data.get("tranId", "")),
        trade_id=str(data.get("tradeId", "")),
    )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def fmt(value: Decimal) -> str:
    """A decimal as the exchange wants it: plain notation, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text
