"""Stream payloads (spec §6.2, §6.3) -> events. Single-letter keys; numbers as strings."""

from datetime import timedelta
from typing import Any

from app.core.types import interval_delta
from app.exchange.events import (
    AccountUpdate,
    BalanceChange,
    MarkPriceUpdate,
    OrderUpdate,
    PositionChange,
)
from app.exchange.http.wire import dec, ms, protocol_parser
from app.exchange.types import ExchangeOrder, Kline, OrderStatus, Side, UserTrade


@protocol_parser
def parse_kline_event(message: dict[str, Any]) -> Kline | None:
    """A closed kline from a ``kline`` event; None while the bar is still forming."""
    k = message["k"]
    if not k["x"]:
        return None
    open_time = ms(k["t"])
    return Kline(
        symbol=k["s"],
        interval=k["i"],
        open_time=open_time,
        close_time=open_time + interval_delta(k["i"]) - timedelta(milliseconds=1),
        open=dec(k["o"]),
        high=dec(k["h"]),
        low=dec(k["l"]),
        close=dec(k["c"]),
        volume=dec(k["v"]),
        quote_volume=dec(k.get("q", "0")),
        trade_count=int(k.get("n", 0)),
        closed=True,
    )


@protocol_parser
def parse_mark_price_event(message: dict[str, Any]) -> MarkPriceUpdate:
    """A ``markPriceUpdate`` event."""
    return MarkPriceUpdate(
        symbol=message["s"],
        mark_price=dec(message["p"]),
        funding_rate=dec(message.get("r", "0")),
        next_funding_time=ms(message.get("T", 0)),
        time=ms(message["E"]),
    )


@protocol_parser
def parse_order_update(message: dict[str, Any]) -> OrderUpdate:
    """An ``ORDER_TRADE_UPDATE`` event."""
    o = message["o"]
    return OrderUpdate(
        symbol=o["s"],
        client_order_id=o["c"],
        order_id=int(o["i"]),
        side=Side(o["S"]),
        order_type=o["o"],
        execution_type=o["x"],
        status=OrderStatus(o["X"]),
        orig_qty=dec(o["q"]),
        cum_qty=dec(o["z"]),
        avg_price=dec(o.get("ap", "0")),
        last_qty=dec(o.get("l", "0")),
        last_price=dec(o.get("L", "0")),
        commission=dec(o.get("n", "0")),
        commission_asset=o.get("N", ""),
        trade_id=int(o.get("t", 0)),
        realized_pnl=dec(o.get("rp", "0")),
        reduce_only=bool(o.get("R", False)),
        maker=bool(o.get("m", False)),
        time=ms(o.get("T", message["E"])),
    )


@protocol_parser
def parse_account_update(message: dict[str, Any]) -> AccountUpdate:
    """An ``ACCOUNT_UPDATE`` event."""
    a = message["a"]
    return AccountUpdate(
        reason=a.get("m", ""),
        balances=tuple(
            BalanceChange(
                asset=b["a"], wallet_balance=dec(b["wb"]), cross_wallet_balance=dec(b["cw"])
            )
            for b in a.get("B", [])
        ),
        positions=tuple(
            PositionChange(
                symbol=p["s"],
                amount=dec(p["pa"]),
                entry_price=dec(p["ep"]),
                unrealized_pnl=dec(p.get("up", "0")),
                position_side=p.get("ps", "BOTH"),
            )
            for p in a.get("P", [])
        ),
        time=ms(message.get("T", message["E"])),
    )


def trade_to_order_update(trade: UserTrade, order: ExchangeOrder) -> OrderUpdate:
    """A fill found by REST catch-up, shaped like the stream's ORDER_TRADE_UPDATE."""
    return OrderUpdate(
        symbol=trade.symbol,
        client_order_id=order.client_order_id,
        order_id=trade.order_id,
        side=trade.side,
        order_type=order.type,
        execution_type="TRADE",
        status=order.status,
        orig_qty=order.orig_qty,
        cum_qty=order.executed_qty,
        avg_price=order.avg_price,
        last_qty=trade.quantity,
        last_price=trade.price,
        commission=trade.commission,
        commission_asset=trade.commission_asset,
        trade_id=trade.trade_id,
        realized_pnl=trade.realized_pnl,
        reduce_only=order.reduce_only,
        maker=trade.maker,
        time=trade.time,
        catch_up=True,
    )
