"""Account endpoints: configuration, balances, positions, trades, income, listen keys."""

from ._call import Call
from ._errors import (
    MARGIN_TYPE_OPEN_ORDERS,
    MARGIN_TYPE_POSITION,
    MODE_OPEN_ORDERS,
    MODE_POSITION,
    SAME_MARGIN_TYPE,
    SAME_POSITION_SIDE,
    ApiError,
    error,
    invalid_param,
    mandatory,
)
from ._ledger import position_figures
from ._numbers import plain
from ._symbols import MAX_LEVERAGE, max_notional
from ._venue import Venue
from ._wire import (
    account_json,
    balance_json,
    income_json,
    position_risk_json,
    trade_json,
)

INCOME_TYPES = frozenset(
    {
        "TRANSFER",
        "WELCOME_BONUS",
        "REALIZED_PNL",
        "FUNDING_FEE",
        "COMMISSION",
        "INSURANCE_CLEAR",
        "MARKET_MERCHANT_RETURN_REWARD",
    }
)
SUCCESS = {"code": 200, "msg": "success"}


def change_leverage(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/leverage."""
    symbol = venue.symbol(call.params)
    raw = call.params.require("leverage")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LEVERAGE:
        raise ApiError(-4028, f"Leverage {raw} is not valid")
    leverage = int(raw)
    call.user.positions[symbol].leverage = leverage
    event = {"e": "ACCOUNT_CONFIG_UPDATE", "E": call.now_ms, "T": call.now_ms}
    event["ac"] = {"s": symbol, "l": leverage}
    venue.publish_user(call.user, event)
    return {
        "leverage": leverage,
        "maxNotionalValue": plain(max_notional(leverage)),
        "symbol": symbol,
    }


def change_margin_type(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/marginType (-4046 unchanged, -4047/-4048 blocked)."""
    symbol = venue.symbol(call.params)
    wanted = call.params.require("marginType").upper()
    if wanted not in ("ISOLATED", "CROSSED"):
        raise invalid_param("marginType")
    position = call.user.positions[symbol]
    if position.margin_type == wanted:
        raise error(SAME_MARGIN_TYPE)
    if call.user.open_orders(symbol):
        raise error(MARGIN_TYPE_OPEN_ORDERS)
    if position.amount != 0:
        raise error(MARGIN_TYPE_POSITION)
    position.margin_type = "ISOLATED" if wanted == "ISOLATED" else "CROSSED"
    return dict(SUCCESS)


def get_position_mode(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/positionSide/dual."""
    return {"dualSidePosition": call.user.dual_side_position}


def change_position_mode(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/positionSide/dual (-4059 unchanged, -4067/-4068 blocked)."""
    if "dualSidePosition" not in call.params:
        raise mandatory("dualSidePosition")
    wanted = call.params.boolean("dualSidePosition")
    account = call.user
    if account.dual_side_position == wanted:
        raise error(SAME_POSITION_SIDE)
    if account.open_orders():
        raise error(MODE_OPEN_ORDERS)
    if any(p.amount != 0 for p in account.positions.values()):
        raise error(MODE_POSITION)
    account.dual_side_position = wanted
    event = {"e": "ACCOUNT_CONFIG_UPDATE", "E": call.now_ms, "T": call.now_ms}
    event["ai"] = {"j": account.multi_assets_margin, "f": False, "d": wanted}
    venue.publish_user(account, event)
    return dict(SUCCESS)


def get_multi_assets(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/multiAssetsMargin."""
    return {"multiAssetsMargin": call.user.multi_assets_margin}


def change_multi_assets(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/multiAssetsMargin (stored only; margin stays USDT)."""
    if "multiAssetsMargin" not in call.params:
        raise mandatory("multiAssetsMargin")
    call.user.multi_assets_margin = call.params.boolean("multiAssetsMargin")
    return dict(SUCCESS)


def balance(venue: Venue, call: Call) -> object:
    """GET /fapi/v2/balance and /fapi/v3/balance."""
    figures = venue.engine.figures(call.user, call.now_ms)
    return balance_json(call.user, figures, call.now_ms)


def account_information(venue: Venue, call: Call) -> object:
    """GET /fapi/v4/account and /fapi/v3/accountWithJoinMargin."""
    figures = venue.engine.figures(call.user, call.now_ms)
    return account_json(call.user, figures, venue.specs, call.now_ms)


def position_risk(venue: Venue, call: Call) -> object:
    """GET /fapi/v2/positionRisk and /fapi/v3/positionRisk: every symbol, flat ones too."""
    chosen = venue.optional_symbol(call.params)
    rows = []
    for symbol, position in call.user.positions.items():
        if chosen not in (None, symbol):
            continue
        spec = venue.specs[symbol]
        figures = position_figures(position, venue.engine.price(symbol, call.now_ms), spec)
        rows.append(position_risk_json(call.user, position, figures, spec))
    return rows


def user_trades(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/userTrades."""
    symbol = venue.symbol(call.params)
    params = call.params
    limit = params.int_or("limit", 500, low=1, high=1000)
    from_id = params.optional_int("fromId", low=0)
    start = params.optional_int("startTime", low=0)
    end = params.optional_int("endTime", low=0)
    trades = [t for t in call.user.trades if t.symbol == symbol]
    if from_id is not None:
        if start is not None or end is not None:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        chosen = [t for t in trades if t.trade_id >= from_id][:limit]
    else:
        window = [
            t
            for t in trades
            if (start is None or t.time >= start) and (end is None or t.time <= end)
        ]
        chosen = window[:limit] if start is not None else window[-limit:]
    return [trade_json(t, venue.specs[symbol]) for t in chosen]


def income(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/income."""
    params = call.params
    symbol = venue.optional_symbol(params)
    income_type = params.optional("incomeType")
    if income_type is not None and income_type not in INCOME_TYPES:
        raise invalid_param("incomeType")
    limit = params.int_or("limit", 100, low=1, high=1000)
    start = params.optional_int("startTime", low=0)
    end = params.optional_int("endTime", low=0)
    rows = [
        row
        for row in call.user.income
        if symbol in (None, row.symbol)
        and income_type in (None, row.income_type)
        and (start is None or row.time >= start)
        and (end is None or row.time <= end)
    ]
    chosen = rows[:limit] if start is not None else rows[-limit:]
    return [income_json(row) for row in chosen]


def commission_rate(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/commissionRate."""
    symbol = venue.symbol(call.params)
    costs = venue.engine.costs
    return {
        "symbol": symbol,
        "makerCommissionRate": plain(costs.maker_fee),
        "takerCommissionRate": plain(costs.taker_fee),
    }


def new_listen_key(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/listenKey: the active key (extended) or a new one."""
    return {"listenKey": venue.create_listen_key(call.user, call.now_ms)}


def keepalive_listen_key(venue: Venue, call: Call) -> object:
    """PUT /fapi/v1/listenKey (optional ``listenKey``)."""
    venue.keepalive_listen_key(call.user, call.params.optional("listenKey"), call.now_ms)
    return {}


def close_listen_key(venue: Venue, call: Call) -> object:
    """DELETE /fapi/v1/listenKey (optional ``listenKey``)."""
    venue.close_listen_key(call.user, call.params.optional("listenKey"), call.now_ms)
    return {}
