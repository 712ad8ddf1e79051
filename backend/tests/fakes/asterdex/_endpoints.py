"""The route table: method, V1 path, V3 path, security type, weight and handler."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from . import _routes_account as account
from . import _routes_market as market
from . import _routes_trading as trading
from ._call import Call
from ._params import Params
from ._venue import Venue

Security = Literal["NONE", "USER_STREAM", "SIGNED"]
Handler = Callable[[Venue, Call], object]
Weight = Callable[[Params], int]


def _fixed(weight: int) -> Weight:
    return lambda _params: weight


def _with_symbol(one: int, every: int) -> Weight:
    return lambda params: one if "symbol" in params else every


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One business endpoint, reachable under its V1 path and its V3 path."""

    method: str
    v1_path: str
    security: Security
    weight: Weight
    handler: Handler
    v3_path: str = ""
    counts_orders: bool = False
    names: frozenset[str] = field(default=frozenset())

    @classmethod
    def define(
        cls,
        method: str,
        v1_path: str,
        security: Security,
        weight: Weight | int,
        handler: Handler,
        *,
        v3_path: str | None = None,
        counts_orders: bool = False,
    ) -> "Endpoint":
        """Build an entry; the V3 path defaults to the V1 path re-homed under ``/fapi/v3/``."""
        version, rest = v1_path.removeprefix("/fapi/").split("/", 1)
        assert version in ("v1", "v2", "v4")
        v3 = v3_path or f"/fapi/v3/{rest}"
        return cls(
            method=method,
            v1_path=v1_path,
            security=security,
            weight=_fixed(weight) if isinstance(weight, int) else weight,
            handler=handler,
            v3_path=v3,
            counts_orders=counts_orders,
            names=frozenset({v1_path, v3}),
        )


_E = Endpoint.define
ENDPOINTS: tuple[Endpoint, ...] = (
    _E("GET", "/fapi/v1/ping", "NONE", 1, market.ping),
    _E("GET", "/fapi/v1/time", "NONE", 1, market.server_time),
    _E("GET", "/fapi/v1/exchangeInfo", "NONE", 1, market.exchange_information),
    _E("GET", "/fapi/v1/depth", "NONE", market.depth_weight, market.depth),
    _E("GET", "/fapi/v1/klines", "NONE", market.klines_weight, market.klines),
    _E("GET", "/fapi/v1/markPriceKlines", "NONE", market.klines_weight, market.klines),
    _E("GET", "/fapi/v1/indexPriceKlines", "NONE", market.klines_weight, market.index_price_klines),
    _E("GET", "/fapi/v1/premiumIndex", "NONE", 1, market.premium),
    _E("GET", "/fapi/v1/fundingRate", "NONE", 1, market.funding_rate),
    _E("GET", "/fapi/v1/fundingInfo", "NONE", 1, market.funding_info),
    _E("GET", "/fapi/v1/ticker/24hr", "NONE", _with_symbol(1, 40), market.ticker_day),
    _E("GET", "/fapi/v1/ticker/price", "NONE", _with_symbol(1, 2), market.ticker_price),
    _E("GET", "/fapi/v1/ticker/bookTicker", "NONE", _with_symbol(1, 2), market.book_ticker),
    _E("POST", "/fapi/v1/order", "SIGNED", 1, trading.new_order, counts_orders=True),
    _E("GET", "/fapi/v1/order", "SIGNED", 1, trading.query_order),
    _E("DELETE", "/fapi/v1/order", "SIGNED", 1, trading.cancel_order),
    _E("POST", "/fapi/v1/batchOrders", "SIGNED", 5, trading.batch_orders, counts_orders=True),
    _E("DELETE", "/fapi/v1/batchOrders", "SIGNED", 1, trading.cancel_batch),
    _E("DELETE", "/fapi/v1/allOpenOrders", "SIGNED", 1, trading.cancel_all),
    _E("GET", "/fapi/v1/openOrders", "SIGNED", trading.open_orders_weight, trading.open_orders),
    _E("GET", "/fapi/v1/openOrder", "SIGNED", 1, trading.query_open_order),
    _E("GET", "/fapi/v1/allOrders", "SIGNED", 5, trading.all_orders),
    _E("POST", "/fapi/v1/leverage", "SIGNED", 1, account.change_leverage),
    _E("POST", "/fapi/v1/marginType", "SIGNED", 1, account.change_margin_type),
    _E("GET", "/fapi/v1/positionSide/dual", "SIGNED", 30, account.get_position_mode),
    _E("POST", "/fapi/v1/positionSide/dual", "SIGNED", 1, account.change_position_mode),
    _E("GET", "/fapi/v1/multiAssetsMargin", "SIGNED", 30, account.get_multi_assets),
    _E("POST", "/fapi/v1/multiAssetsMargin", "SIGNED", 1, account.change_multi_assets),
    _E("GET", "/fapi/v2/balance", "SIGNED", 5, account.balance),
    _E(
        "GET",
        "/fapi/v4/account",
        "SIGNED",
        5,
        account.account_information,
        v3_path="/fapi/v3/accountWithJoinMargin",
    ),
    _E("GET", "/fapi/v2/positionRisk", "SIGNED", 5, account.position_risk),
    _E("GET", "/fapi/v1/userTrades", "SIGNED", 5, account.user_trades),
    _E("GET", "/fapi/v1/income", "SIGNED", 30, account.income),
    _E("GET", "/fapi/v1/commissionRate", "SIGNED", 20, account.commission_rate),
    _E("POST", "/fapi/v1/listenKey", "USER_STREAM", 1, account.new_listen_key),
    _E("PUT", "/fapi/v1/listenKey", "USER_STREAM", 1, account.keepalive_listen_key),
    _E("DELETE", "/fapi/v1/listenKey", "USER_STREAM", 1, account.close_listen_key),
)

ROUTES: dict[tuple[str, str], tuple[Endpoint, Literal["v1", "v3"]]] = {}
for _endpoint in ENDPOINTS:
    ROUTES[(_endpoint.method, _endpoint.v1_path)] = (_endpoint, "v1")
    ROUTES[(_endpoint.method, _endpoint.v3_path)] = (_endpoint, "v3")
