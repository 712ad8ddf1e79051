"""JSON shapes of orders, trades, positions and user-stream events (numbers as strings)."""

from decimal import Decimal

from ._accounts import FakeAccount, FakeIncome, FakeOrder, FakePosition, FakeTrade
from ._ledger import AccountFigures, PositionFigures, liquidation_price
from ._numbers import ZERO, fixed, plain
from ._symbols import FakeSymbolSpec, max_notional

Json = dict[str, object]


def order_json(order: FakeOrder, spec: FakeSymbolSpec, *, placed: bool = False) -> Json:
    """An order object: the New Order shape (``cumQty``) or the query shape (``time``)."""
    body: Json = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": spec.price_text(order.price),
        "avgPrice": fixed(order.avg_price, max(5, spec.tick_places)),
        "origQty": spec.qty_text(order.orig_qty),
        "executedQty": spec.qty_text(order.executed_qty),
        "cumQuote": plain(order.cum_quote),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "origType": order.orig_type,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": spec.price_text(order.stop_price),
        "workingType": order.working_type,
        "priceProtect": order.price_protect,
        "updateTime": order.update_time,
    }
    if placed:
        body["cumQty"] = spec.qty_text(order.executed_qty)
    else:
        body["time"] = order.time
    if order.type == "TRAILING_STOP_MARKET":
        body["activatePrice"] = spec.price_text(order.activation_price or ZERO)
        body["priceRate"] = plain(order.callback_rate or ZERO)
    return body


def trade_json(trade: FakeTrade, spec: FakeSymbolSpec) -> Json:
    """A ``userTrades`` row."""
    return {
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "symbol": trade.symbol,
        "side": trade.side,
        "positionSide": trade.position_side,
        "price": plain(trade.price),
        "qty": spec.qty_text(trade.qty),
        "quoteQty": plain(trade.quote_qty),
        "realizedPnl": plain(trade.realized_pnl),
        "commission": plain(trade.commission),
        "commissionAsset": trade.commission_asset,
        "buyer": trade.side == "BUY",
        "maker": trade.maker,
        "time": trade.time,
    }


def income_json(income: FakeIncome) -> Json:
    """An ``income`` row (``tranId`` as a string, like the documented example)."""
    return {
        "symbol": income.symbol,
        "incomeType": income.income_type,
        "income": plain(income.income),
        "asset": income.asset,
        "info": income.info or income.income_type,
        "time": income.time,
        "tranId": str(income.tran_id),
        "tradeId": income.trade_id,
    }


def order_update_event(
    order: FakeOrder,
    spec: FakeSymbolSpec,
    *,
    execution: str,
    time_ms: int,
    trade: FakeTrade | None = None,
    book_notional: tuple[Decimal, Decimal] = (ZERO, ZERO),
) -> Json:
    """``ORDER_TRADE_UPDATE`` for one execution (NEW, TRADE, CANCELED, EXPIRED)."""
    body: Json = {
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": spec.qty_text(order.orig_qty),
        "p": spec.price_text(order.price),
        "ap": plain(order.avg_price),
        "sp": spec.price_text(order.stop_price),
        "x": execution,
        "X": order.status,
        "i": order.order_id,
        "l": spec.qty_text(trade.qty if trade else ZERO),
        "z": spec.qty_text(order.executed_qty),
        "L": plain(trade.price) if trade else "0",
        "T": time_ms,
        "t": trade.trade_id if trade else 0,
        "b": plain(book_notional[0]),
        "a": plain(book_notional[1]),
        "m": trade.maker if trade else False,
        "R": order.reduce_only,
        "wt": order.working_type,
        "ot": order.orig_type,
        "ps": order.position_side,
        "cp": order.close_position,
        "rp": plain(trade.realized_pnl) if trade else "0",
    }
    if trade is not None:
        body["N"] = trade.commission_asset
        body["n"] = plain(trade.commission)
    if order.type == "TRAILING_STOP_MARKET":
        body["AP"] = spec.price_text(order.activation_price or ZERO)
        body["cr"] = plain(order.callback_rate or ZERO)
    return {"e": "ORDER_TRADE_UPDATE", "E": time_ms, "T": time_ms, "o": body}


def stream_position(position: FakePosition, figures: PositionFigures) -> Json:
    """One ``ACCOUNT_UPDATE.a.P[]`` entry."""
    isolated = position.margin_type == "ISOLATED"
    return {
        "s": position.symbol,
        "pa": plain(position.amount),
        "ep": plain(position.entry_price),
        "cr": plain(position.realized_pnl),
        "up": plain(figures.unrealized),
        "mt": position.wire_margin_type,
        "iw": plain(figures.initial_margin) if isolated else "0",
        "ps": position.position_side_text,
    }


def account_update_event(
    account: FakeAccount,
    reason: str,
    positions: list[tuple[FakePosition, PositionFigures]],
    time_ms: int,
) -> Json:
    """``ACCOUNT_UPDATE`` with the USDT balance and the given positions."""
    balance = plain(account.balance)
    return {
        "e": "ACCOUNT_UPDATE",
        "E": time_ms,
        "T": time_ms,
        "a": {
            "m": reason,
            "B": [{"a": "USDT", "wb": balance, "cw": balance, "bc": "0"}],
            "P": [stream_position(p, f) for p, f in positions],
        },
    }


def balance_json(account: FakeAccount, figures: AccountFigures, time_ms: int) -> list[Json]:
    """``GET /fapi/v2/balance``."""
    available = plain(max(ZERO, figures.available))
    return [
        {
            "accountAlias": "FaKe",
            "asset": "USDT",
            "balance": plain(figures.wallet),
            "crossWalletBalance": plain(figures.wallet),
            "crossUnPnl": plain(figures.unrealized),
            "availableBalance": available,
            "maxWithdrawAmount": plain(max(ZERO, min(figures.wallet, figures.available))),
            "marginAvailable": True,
            "updateTime": account.update_time or time_ms,
        }
    ]


def position_risk_json(
    account: FakeAccount, position: FakePosition, figures: PositionFigures, spec: FakeSymbolSpec
) -> Json:
    """One ``GET /fapi/v2/positionRisk`` row."""
    isolated = position.margin_type == "ISOLATED"
    return {
        "symbol": position.symbol,
        "positionAmt": spec.qty_text(position.amount),
        "entryPrice": plain(position.entry_price),
        "markPrice": plain(figures.mark),
        "unRealizedProfit": plain(figures.unrealized),
        "liquidationPrice": plain(liquidation_price(position, account.balance, spec)),
        "leverage": str(position.leverage),
        "maxNotionalValue": plain(max_notional(position.leverage)),
        "marginType": position.wire_margin_type,
        "isolatedMargin": plain(figures.initial_margin) if isolated else "0",
        "isAutoAddMargin": "false",
        "positionSide": position.position_side_text,
        "notional": plain(figures.notional),
        "updateTime": position.update_time,
    }


def account_json(
    account: FakeAccount,
    figures: AccountFigures,
    specs: dict[str, FakeSymbolSpec],
    time_ms: int,
) -> Json:
    """``GET /fapi/v4/account`` (and V3 ``accountWithJoinMargin``)."""
    totals = {
        "totalInitialMargin": plain(figures.position_margin + figures.order_margin),
        "totalMaintMargin": plain(figures.maint_margin),
        "totalWalletBalance": plain(figures.wallet),
        "totalUnrealizedProfit": plain(figures.unrealized),
        "totalMarginBalance": plain(figures.margin_balance),
        "totalPositionInitialMargin": plain(figures.position_margin),
        "totalOpenOrderInitialMargin": plain(figures.order_margin),
        "totalCrossWalletBalance": plain(figures.wallet),
        "totalCrossUnPnl": plain(figures.unrealized),
        "availableBalance": plain(max(ZERO, figures.available)),
        "maxWithdrawAmount": plain(max(ZERO, min(figures.wallet, figures.available))),
    }
    asset = {
        "asset": "USDT",
        "walletBalance": totals["totalWalletBalance"],
        "unrealizedProfit": totals["totalUnrealizedProfit"],
        "marginBalance": totals["totalMarginBalance"],
        "maintMargin": totals["totalMaintMargin"],
        "initialMargin": totals["totalInitialMargin"],
        "positionInitialMargin": totals["totalPositionInitialMargin"],
        "openOrderInitialMargin": totals["totalOpenOrderInitialMargin"],
        "crossWalletBalance": totals["totalCrossWalletBalance"],
        "crossUnPnl": totals["totalCrossUnPnl"],
        "availableBalance": totals["availableBalance"],
        "maxWithdrawAmount": totals["maxWithdrawAmount"],
        "marginAvailable": True,
        "updateTime": account.update_time or time_ms,
    }
    positions = []
    for symbol, position in account.positions.items():
        pf = figures.positions[symbol]
        positions.append(
            {
                "symbol": symbol,
                "initialMargin": plain(pf.initial_margin),
                "maintMargin": plain(pf.maint_margin),
                "unrealizedProfit": plain(pf.unrealized),
                "positionInitialMargin": plain(pf.initial_margin),
                "openOrderInitialMargin": "0",
                "leverage": str(position.leverage),
                "isolated": position.margin_type == "ISOLATED",
                "entryPrice": plain(position.entry_price),
                "maxNotional": plain(max_notional(position.leverage)),
                "positionSide": position.position_side_text,
                "positionAmt": specs[symbol].qty_text(position.amount),
                "notional": plain(pf.notional),
                "isolatedWallet": "0",
                "updateTime": position.update_time,
            }
        )
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        **totals,
        "assets": [asset],
        "positions": positions,
    }
