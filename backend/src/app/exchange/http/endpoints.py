"""Every REST endpoint the client calls: method, V1 and V3 paths, security and weight."""

from dataclasses import dataclass

from app.exchange.http.transport import Security


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint (spec §3 for V1, §10 for the V3 paths)."""

    method: str
    v1_path: str
    v3_path: str
    security: Security
    weight: int
    priority: bool = False  # order traffic may use the reserved weight


def _both(method: str, name: str, security: Security, weight: int, *, v1: str = "v1") -> Endpoint:
    return Endpoint(method, f"/fapi/{v1}/{name}", f"/fapi/v3/{name}", security, weight)


_N, _K, _S = Security.NONE, Security.KEY, Security.SIGNED

PING = _both("GET", "ping", _N, 1)
TIME = _both("GET", "time", _N, 1)
EXCHANGE_INFO = _both("GET", "exchangeInfo", _N, 1)
DEPTH = _both("GET", "depth", _N, 2)
KLINES = _both("GET", "klines", _N, 5)
MARK_PRICE_KLINES = _both("GET", "markPriceKlines", _N, 5)
PREMIUM_INDEX = _both("GET", "premiumIndex", _N, 1)
FUNDING_RATE = _both("GET", "fundingRate", _N, 1)
TICKER_24H = _both("GET", "ticker/24hr", _N, 1)

ORDER_NEW = Endpoint("POST", "/fapi/v1/order", "/fapi/v3/order", _S, 1, priority=True)
ORDER_QUERY = Endpoint("GET", "/fapi/v1/order", "/fapi/v3/order", _S, 1, priority=True)
ORDER_CANCEL = Endpoint("DELETE", "/fapi/v1/order", "/fapi/v3/order", _S, 1, priority=True)
BATCH_ORDERS = Endpoint("POST", "/fapi/v1/batchOrders", "/fapi/v3/batchOrders", _S, 5, True)
CANCEL_ALL = Endpoint("DELETE", "/fapi/v1/allOpenOrders", "/fapi/v3/allOpenOrders", _S, 1, True)
OPEN_ORDERS = _both("GET", "openOrders", _S, 1)
ALL_ORDERS = _both("GET", "allOrders", _S, 5)
LEVERAGE = _both("POST", "leverage", _S, 1)
MARGIN_TYPE = _both("POST", "marginType", _S, 1)
POSITION_MODE_SET = _both("POST", "positionSide/dual", _S, 1)
POSITION_MODE_GET = _both("GET", "positionSide/dual", _S, 30)

BALANCE = _both("GET", "balance", _S, 5, v1="v2")
ACCOUNT = Endpoint("GET", "/fapi/v4/account", "/fapi/v3/accountWithJoinMargin", _S, 5)
POSITION_RISK = _both("GET", "positionRisk", _S, 5, v1="v2")
USER_TRADES = _both("GET", "userTrades", _S, 5)
INCOME = _both("GET", "income", _S, 30)
COMMISSION_RATE = _both("GET", "commissionRate", _S, 20)

LISTEN_KEY_NEW = _both("POST", "listenKey", _K, 1)
LISTEN_KEY_KEEPALIVE = _both("PUT", "listenKey", _K, 1)
LISTEN_KEY_CLOSE = _both("DELETE", "listenKey", _K, 1)
