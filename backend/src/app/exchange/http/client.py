"""The async AsterDEX REST client (spec §3), for one account or for public data only.

Orders are never placed twice: every new order carries the caller's deterministic
``newClientOrderId``; when the outcome of a placement is unknown (timeout, 5xx, a reply that
does not parse, an unexpected refusal) the client asks the exchange for that client order id
before anything is sent again, and returns the order the exchange has. An order the exchange
has not seen is sent again only once the first request can no longer be accepted (its
timestamp or nonce has left the server's validity window).
"""

import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from app.exchange.errors import (
    ExchangeError,
    ExchangeProtocolError,
    ExchangeRejected,
    ExchangeTemporaryError,
    FilterViolation,
    OrderRejected,
    RateLimited,
    UnknownOrderOutcome,
)
from app.exchange.http import endpoints as ep
from app.exchange.http.account import AccountMixin
from app.exchange.http.constants import (
    BATCH_ORDERS_MAX,
    CLIENT_ORDER_ID_PATTERN,
    DUPLICATE_CLIENT_ORDER_ID,
    NO_SUCH_ORDER,
)
from app.exchange.http.market import MarketDataMixin
from app.exchange.http.wire import fmt, parse_order
from app.exchange.types import ExchangeOrder, OrderRequest

logger = logging.getLogger(__name__)

_CLIENT_ORDER_ID: Final = re.compile(CLIENT_ORDER_ID_PATTERN)
_WINDOW_MARGIN_MS: Final = 1_000
_REMEMBERED_ORDERS: Final = 10_000


@dataclass(frozen=True, slots=True)
class BatchItemError:
    """One refused order of a batch: the refusal as the exchange gave it."""

    client_order_id: str
    error: ExchangeRejected


class AsterdexClient(MarketDataMixin, AccountMixin):
    """Async client for the AsterDEX futures REST API (market data, account, trading).

    Takes the arguments of :class:`~app.exchange.http.base.ClientBase`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Client id -> exchange time of the last request that may have placed it, for orders
        # whose outcome is unknown. Resolved with the exchange before anything is resent.
        self._unresolved: dict[str, int] = {}
        # Client ids this client placed: a repeated call looks the order up instead of
        # sending (the exchange only refuses duplicates among *open* orders).
        self._placed: OrderedDict[str, None] = OrderedDict()
        # Close-position orders already sent again at once after an unknown outcome.
        self._resent_at_once: set[str] = set()

    async def __aenter__(self) -> "AsterdexClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- trading -------------------------------------------------------------------------

    async def place_order(
        self, order: OrderRequest, *, maybe_sent_at_ms: int | None = None
    ) -> ExchangeOrder:
        """Place ``order`` exactly once, idempotent on ``order.client_order_id``.

        Calling again with the same client id (after a timeout or an error) never creates a
        second order: the exchange is asked for that id first. After a restart the caller
        passes ``maybe_sent_at_ms`` (exchange time of an earlier attempt, from its journal) so
        the same resolution happens.

        Raises:
            FilterViolation: Refused locally before sending.
            OrderRejected: The exchange refused the order (nothing was placed).
            RateLimited: Not sent, or refused for rate limits (nothing was placed).
            UnknownOrderOutcome: Sent, and the outcome could not be established; call again
                with the same client id.
        """
        _check_client_order_id(order.client_order_id)
        if maybe_sent_at_ms is not None:
            self._unresolved.setdefault(order.client_order_id, maybe_sent_at_ms)
        if order.client_order_id in self._placed:
            existing = await self._lookup(order)
            if existing is None:
                raise OrderRejected(
                    f"client order id {order.client_order_id} was already used for an order "
                    "the exchange no longer reports"
                )
            return existing
        if order.client_order_id in self._unresolved:
            existing = await self._resolve(order)
            if existing is not None:
                return self._remember(existing)
        return self._remember(await self._send_new_order(order))

    def _remember(self, order: ExchangeOrder) -> ExchangeOrder:
        self._resent_at_once.discard(order.client_order_id)
        self._placed[order.client_order_id] = None
        while len(self._placed) > _REMEMBERED_ORDERS:
            self._placed.popitem(last=False)
        return order

    async def _send_new_order(self, order: OrderRequest) -> ExchangeOrder:
        self._unresolved[order.client_order_id] = self._http.now_ms()
        try:
            data = await self._call(
                ep.ORDER_NEW, _order_params(order), retry_safe=False, rejection=OrderRejected
            )
            placed = parse_order(data)
        except (RateLimited, FilterViolation):
            del self._unresolved[order.client_order_id]
            raise
        except ExchangeRejected as exc:
            if isinstance(exc, OrderRejected) and not is_final_order_refusal(exc.exchange_code):
                return await self._after_unknown(order, exc)
            del self._unresolved[order.client_order_id]
            raise
        except (ExchangeTemporaryError, ExchangeProtocolError) as exc:
            return await self._after_unknown(order, exc)
        del self._unresolved[order.client_order_id]
        return placed

    async def _after_unknown(self, order: OrderRequest, cause: ExchangeError) -> ExchangeOrder:
        logger.warning(
            "order %s: outcome unknown (%s); asking the exchange", order.client_order_id, cause
        )
        existing = await self._resolve(order)
        if existing is not None:
            return existing
        logger.warning("order %s was never placed; sending it again", order.client_order_id)
        return await self._send_new_order(order)

    async def _resolve(self, order: OrderRequest) -> ExchangeOrder | None:
        """The order the exchange has under this client id, or None once it provably has none.

        "Provably": the last request that may have carried this order can no longer be
        accepted by the server (its timestamp or nonce has left the validity window), and
        the exchange still does not know the id.

        Raises:
            UnknownOrderOutcome: The exchange could not be asked.
        """
        client_id = order.client_order_id
        found = await self._lookup(order)
        if found is None and order.close_position and client_id not in self._resent_at_once:
            # A close-position stop or target is harmless twice: it closes whatever the
            # position is, and while the first is open the exchange refuses its id again.
            # So it goes out again at once instead of waiting out the validity window (a
            # fresh position would be unprotected meanwhile); once only, then patiently.
            self._resent_at_once.add(client_id)
            self._unresolved.pop(client_id, None)
            return None
        if found is None:
            await self._wait_until_expired(self._unresolved[client_id])
            found = await self._lookup(order)
        self._unresolved.pop(client_id, None)
        return found

    async def _lookup(self, order: OrderRequest) -> ExchangeOrder | None:
        return await self._lookup_id(order.symbol, order.client_order_id)

    async def _lookup_id(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        try:
            return await self.find_order(symbol, client_order_id)
        except ExchangeError as exc:
            raise UnknownOrderOutcome(
                f"could not look the order up: {exc}", client_order_id=client_order_id
            ) from exc

    async def resolve_order(
        self, symbol: str, client_order_id: str, *, sent_at_ms: int | None
    ) -> ExchangeOrder | None:
        """After a restart: the order under this client id, or None once provably never placed.

        ``sent_at_ms`` is the exchange time of the last request that may have carried the
        order (from the journal). When the exchange does not know the id, this waits until
        such a request can no longer be accepted and asks again, so a None is final.

        Raises:
            UnknownOrderOutcome: The exchange could not be asked.
        """
        found = await self._lookup_id(symbol, client_order_id)
        if found is None and sent_at_ms is not None:
            await self._wait_until_expired(sent_at_ms)
            found = await self._lookup_id(symbol, client_order_id)
        if found is not None:
            self._remember(found)
        return found

    async def _wait_until_expired(self, sent_at_ms: int) -> None:
        window = self._signer.validity_window_ms if self._signer else 0
        delay_ms = sent_at_ms + window + _WINDOW_MARGIN_MS - self._http.now_ms()
        if delay_ms > 0:
            logger.info("waiting %d ms for the earlier request to expire", delay_ms)
            await self._clock.sleep_until(self._clock.now() + timedelta(milliseconds=delay_ms))

    async def find_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """The order with this client id, or None when the exchange does not know it."""
        try:
            return await self.query_order(symbol, client_order_id=client_order_id)
        except ExchangeRejected as exc:
            if exc.exchange_code == NO_SUCH_ORDER:
                return None
            raise

    async def place_batch(
        self, orders: Sequence[OrderRequest]
    ) -> list[ExchangeOrder | BatchItemError]:
        """Place up to five orders in one request; one result per order, in order.

        A batch whose outcome is unknown is resolved order by order through
        :meth:`place_order`, so no order is placed twice.
        """
        if not 0 < len(orders) <= BATCH_ORDERS_MAX:
            raise ValueError(f"a batch holds 1 to {BATCH_ORDERS_MAX} orders, not {len(orders)}")
        for order in orders:
            _check_client_order_id(order.client_order_id)
        payload = "[" + ",".join(_batch_item(order) for order in orders) + "]"
        try:
            data = await self._call(ep.BATCH_ORDERS, [("batchOrders", payload)], retry_safe=False)
        except (ExchangeTemporaryError, ExchangeProtocolError):
            return [await self.place_order(order) for order in orders]
        if not isinstance(data, list) or len(data) != len(orders):
            raise ExchangeProtocolError(f"batch reply does not match the batch: {data!r}")
        results = [_batch_result(o, item) for o, item in zip(orders, data, strict=True)]
        return [r if isinstance(r, BatchItemError) else self._remember(r) for r in results]

    async def query_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        """One order by exchange id or client id (any status).

        Raises:
            ExchangeRejected: -2013 when the exchange does not know it.
        """
        data = await self._call(ep.ORDER_QUERY, _order_ref(symbol, order_id, client_order_id))
        return parse_order(data)

    async def cancel_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        """Cancel one open order; returns it with status CANCELED.

        Raises:
            OrderRejected: -2011 when it is not open (filled, cancelled, unknown).
        """
        params = _order_ref(symbol, order_id, client_order_id)
        data = await self._call(ep.ORDER_CANCEL, params, retry_safe=True, rejection=OrderRejected)
        return parse_order(data)

    async def cancel_all(self, symbol: str) -> None:
        """Cancel every open order of ``symbol``."""
        await self._call(ep.CANCEL_ALL, [("symbol", symbol)], retry_safe=True)

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Open orders of one symbol (weight 1) or of all symbols (weight 40)."""
        params = [("symbol", symbol)] if symbol else []
        data = await self._call(ep.OPEN_ORDERS, params, weight=1 if symbol else 40)
        return [parse_order(item) for item in data]


def _check_client_order_id(client_order_id: str) -> None:
    if not _CLIENT_ORDER_ID.match(client_order_id):
        raise FilterViolation(
            f"client order id {client_order_id!r} must match {CLIENT_ORDER_ID_PATTERN}"
        )


def is_final_order_refusal(code: int | None) -> bool:
    """True when a refusal proves the order was not placed.

    Documented validation codes (-11xx parameters, -20xx order rejections, -40xx/-41xx order
    rules) are final. Anything else, including the duplicate-client-id refusal (no code is
    documented for it), may mean the order exists: it is resolved by client id.
    """
    if code is None or code == DUPLICATE_CLIENT_ORDER_ID:
        return False
    return -1199 <= code <= -1100 or -2028 <= code <= -2010 or -4199 <= code <= -4000


def _order_ref(
    symbol: str, order_id: int | None, client_order_id: str | None
) -> list[tuple[str, str]]:
    if order_id is None and client_order_id is None:
        raise ValueError("give order_id or client_order_id")
    params = [("symbol", symbol)]
    if order_id is not None:
        params.append(("orderId", str(order_id)))
    else:
        params.append(("origClientOrderId", str(client_order_id)))
    return params


def _order_params(order: OrderRequest) -> list[tuple[str, str]]:
    params = [("symbol", order.symbol), ("side", order.side.value), ("type", order.type.value)]
    if order.quantity is not None:
        params.append(("quantity", fmt(order.quantity)))
    if order.price is not None:
        params.append(("price", fmt(order.price)))
    if order.stop_price is not None:
        params.append(("stopPrice", fmt(order.stop_price)))
    if order.time_in_force is not None:
        params.append(("timeInForce", order.time_in_force.value))
    if order.reduce_only:
        params.append(("reduceOnly", "true"))
    if order.close_position:
        params.append(("closePosition", "true"))
    if order.working_type is not None:
        params.append(("workingType", order.working_type.value))
    if order.price_protect:
        params.append(("priceProtect", "TRUE"))
    params.append(("newClientOrderId", order.client_order_id))
    params.append(("newOrderRespType", "RESULT"))
    return params


def _batch_item(order: OrderRequest) -> str:
    # Compact JSON, every value a string (spec §3.3, our choice for the undocumented encoding).
    fields = [f'"{key}":"{value}"' for key, value in _order_params(order)]
    return "{" + ",".join(fields) + "}"


def _batch_result(order: OrderRequest, item: Any) -> ExchangeOrder | BatchItemError:
    if isinstance(item, dict) and isinstance(item.get("code"), int) and item["code"] < 0:
        error = OrderRejected(str(item.get("msg", "")), code=item["code"])
        return BatchItemError(order.client_order_id, error)
    return parse_order(item)
