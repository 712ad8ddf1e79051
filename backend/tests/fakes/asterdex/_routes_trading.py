"""Order endpoints (TRADE / USER_DATA): place, batch, query, cancel, list."""

import json

from ._accounts import FakeAccount, FakeOrder
from ._call import Call
from ._errors import (
    BATCH_SIZE,
    CANCEL_REJECTED,
    NO_SUCH_ORDER,
    ApiError,
    error,
    invalid_param,
    mandatory,
)
from ._params import Params
from ._validation import check_filters, parse_order
from ._venue import Venue
from ._wire import order_json

MAX_BATCH_ORDERS = 5
MAX_BATCH_CANCELS = 10


def _place(venue: Venue, account: FakeAccount, params: Params, now_ms: int) -> object:
    request = parse_order(params, venue.specs)
    check_filters(request, venue.specs[request.symbol], venue.engine.price(request.symbol, now_ms))
    venue.order_meter.add(account.account_id, now_ms)
    order, ack = venue.engine.place(account, request, now_ms)
    if request.resp_type == "RESULT":
        return order_json(order, venue.specs[order.symbol], placed=True)
    return ack


def new_order(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/order."""
    return _place(venue, call.user, call.params, call.now_ms)


def _json_list(params: Params, name: str) -> list[object]:
    raw = params.require(name)
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise mandatory(name) from exc
    if not isinstance(value, list):
        raise mandatory(name)
    return value


def _item_params(item: object) -> Params:
    if not isinstance(item, dict):
        raise mandatory("batchOrders")
    values: dict[str, str] = {}
    for name, value in item.items():
        if isinstance(value, bool):
            values[str(name)] = "true" if value else "false"
        elif value is not None:
            values[str(name)] = str(value)
    return Params(values)


def batch_orders(venue: Venue, call: Call) -> object:
    """POST /fapi/v1/batchOrders: up to 5 orders, handled in list order, per-item errors."""
    items = _json_list(call.params, "batchOrders")
    if not 1 <= len(items) <= MAX_BATCH_ORDERS:
        raise error(BATCH_SIZE)
    results: list[object] = []
    for item in items:
        try:
            results.append(_place(venue, call.user, _item_params(item), call.now_ms))
        except ApiError as exc:
            results.append(exc.body())
    return results


def _identify(params: Params) -> tuple[int | None, str | None]:
    order_id = params.optional_int("orderId", low=0)
    client_id = params.optional("origClientOrderId")
    if order_id is None and client_id is None:
        raise mandatory("orderId")
    return order_id, client_id


def _find(venue: Venue, call: Call) -> FakeOrder | None:
    symbol = venue.symbol(call.params)
    order_id, client_id = _identify(call.params)
    return call.user.find_order(symbol, order_id, client_id)


def query_order(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/order: any order ever placed (by id or client id)."""
    order = _find(venue, call)
    if order is None:
        raise error(NO_SUCH_ORDER)
    return order_json(order, venue.specs[order.symbol])


def query_open_order(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/openOrder: only while it is open (-2013 otherwise)."""
    order = _find(venue, call)
    if order is None or not order.is_open:
        raise error(NO_SUCH_ORDER)
    return order_json(order, venue.specs[order.symbol])


def cancel_order(venue: Venue, call: Call) -> object:
    """DELETE /fapi/v1/order (-2011 when unknown or no longer open)."""
    order = _find(venue, call)
    if order is None or not order.is_open:
        raise error(CANCEL_REJECTED)
    venue.engine.cancel(call.user, order, call.now_ms)
    return order_json(order, venue.specs[order.symbol], placed=True)


def cancel_batch(venue: Venue, call: Call) -> object:
    """DELETE /fapi/v1/batchOrders: up to 10 ids or client ids."""
    symbol = venue.symbol(call.params)
    if "orderIdList" in call.params:
        ids: list[object] = _json_list(call.params, "orderIdList")
        by_client = False
    elif "origClientOrderIdList" in call.params:
        ids = _json_list(call.params, "origClientOrderIdList")
        by_client = True
    else:
        raise mandatory("orderIdList")
    if len(ids) > MAX_BATCH_CANCELS:
        raise invalid_param("orderIdList" if not by_client else "origClientOrderIdList")
    results: list[object] = []
    for ident in ids:
        if by_client:
            order = call.user.find_order(symbol, None, str(ident))
        else:
            number = int(ident) if isinstance(ident, str) and ident.isdigit() else ident
            order_id = number if isinstance(number, int) and not isinstance(number, bool) else -1
            order = call.user.find_order(symbol, order_id, None)
        if order is None or not order.is_open:
            results.append(error(CANCEL_REJECTED).body())
            continue
        venue.engine.cancel(call.user, order, call.now_ms)
        results.append(order_json(order, venue.specs[symbol], placed=True))
    return results


def cancel_all(venue: Venue, call: Call) -> object:
    """DELETE /fapi/v1/allOpenOrders (``code`` is the string "200", as documented)."""
    symbol = venue.symbol(call.params)
    for order in call.user.open_orders(symbol):
        venue.engine.cancel(call.user, order, call.now_ms)
    return {"code": "200", "msg": "The operation of cancel all open order is done."}


def open_orders(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/openOrders."""
    symbol = venue.optional_symbol(call.params)
    return [order_json(o, venue.specs[o.symbol]) for o in call.user.open_orders(symbol)]


def open_orders_weight(params: Params) -> int:
    """1 with a symbol, 40 without."""
    return 1 if "symbol" in params else 40


def all_orders(venue: Venue, call: Call) -> object:
    """GET /fapi/v1/allOrders: from ``orderId`` up, or within the times, or the latest."""
    symbol = venue.symbol(call.params)
    params = call.params
    limit = params.int_or("limit", 500, low=1, high=1000)
    from_id = params.optional_int("orderId", low=0)
    start = params.optional_int("startTime", low=0)
    end = params.optional_int("endTime", low=0)
    orders = [o for o in call.user.orders if o.symbol == symbol]
    if from_id is not None:
        chosen = [o for o in orders if o.order_id >= from_id][:limit]
    else:
        chosen = [
            o
            for o in orders
            if (start is None or o.time >= start) and (end is None or o.time <= end)
        ]
        chosen = chosen[:limit] if start is not None else chosen[-limit:]
    return [order_json(o, venue.specs[symbol]) for o in chosen]
