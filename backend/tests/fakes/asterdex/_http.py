"""The REST front: record, catch up, count weight, apply faults, authenticate, dispatch.

Order per request: the request is recorded; the venue catches up to the clock; the endpoint's
weight is added to the minute's total (every request counts, errors included, unknown paths
weigh 1); an active 418 ban answers; then the first matching fault acts; then a weight total
over the limit answers 429 -1003; then authentication and the handler. Every response carries
``X-MBX-USED-WEIGHT-1M``; accepted new-order requests also carry ``X-MBX-ORDER-COUNT-10S`` and
``X-MBX-ORDER-COUNT-1M``.
"""

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._accounts import FakeAccount
from ._auth import NonceBook, V3Verifier, api_key_account, hmac_account, v3_account
from ._call import Call
from ._endpoints import ROUTES, Endpoint
from ._errors import TIMESTAMP_OUTSIDE, ApiError, error
from ._faults import Fault, FaultBook
from ._limits import WeightMeter
from ._params import Params, merge, parse_pairs
from ._venue import Venue

_JSON = "application/json"


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it, and the status it answered (None: no answer)."""

    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]
    time_ms: int
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


def _encode(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class HttpFront:
    """ASGI handler of every REST request."""

    def __init__(
        self,
        venue: Venue,
        faults: FaultBook,
        weights: WeightMeter,
        v3_chain_id: int,
        stopping: asyncio.Event,
    ) -> None:
        self.venue = venue
        self.faults = faults
        self.weights = weights
        self.verifier = V3Verifier(v3_chain_id)
        self.nonces = NonceBook()
        self.requests: list[RecordedRequest] = []
        self._stopping = stopping

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` of real time, cut short when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        # surrogateescape keeps undecodable bytes, so signatures are checked over the raw bytes.
        body = (await request.body()).decode("utf-8", errors="surrogateescape")
        query = scope["query_string"].decode("utf-8", errors="surrogateescape")
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        now = self.venue.now_ms()
        record = RecordedRequest(method, path, query, body, headers, now)
        self.requests.append(record)
        self.venue.begin_request(now)
        endpoint, api = ROUTES.get((method, path), (None, "v1"))
        try:
            params: Params | ApiError = Params(merge(parse_pairs(query), parse_pairs(body)))
        except ApiError as exc:
            params = exc
        weight = endpoint.weight(params) if endpoint and isinstance(params, Params) else 1
        used = self.weights.add(weight, now)
        out_headers = {"X-MBX-USED-WEIGHT-1M": str(used)}

        async def answer(
            status: int, content: bytes, extra: dict[str, str], media: str = _JSON
        ) -> None:
            all_headers = {**out_headers, **extra}
            record.status = status
            record.response_headers = all_headers
            response = Response(content, status_code=status, headers=all_headers, media_type=media)
            await response(scope, receive, send)

        early = self._before_handling(method, path, endpoint, now)
        if isinstance(early, tuple):
            await answer(*early)
            return
        fault = early
        if fault is not None and fault.kind == "disconnect":
            await _drop_connection(receive, send)
            return
        if fault is not None and fault.kind == "latency":
            await self.pause(fault.latency_s)
            now = self.venue.now_ms()  # a delayed request is judged when it is handled
            self.venue.begin_request(now)
        status, payload, extra = self._dispatch(endpoint, api, params, headers, query, body, now)
        content = _encode(payload)
        if fault is not None and fault.kind == "timeout_after_accept":
            await self.pause(fault.latency_s)
        if fault is not None and fault.kind == "malformed_body":
            status, content = 200, content[: max(1, len(content) // 2)]
        await answer(status, content, extra)

    def _before_handling(
        self, method: str, path: str, endpoint: Endpoint | None, now: int
    ) -> tuple[int, bytes, dict[str, str], str] | Fault | None:
        """A response that pre-empts the handler, or the fault that shapes the handling."""
        if self.faults.banned(now):
            return self._banned(now)
        names = endpoint.names if endpoint else frozenset({path})
        fault = self.faults.take(method, names, now, path)
        if fault is not None and fault.kind == "http_418":
            self.faults.start_ban(fault, now)
            return self._banned(now)
        if fault is not None and fault.kind == "http_429":
            extra = {} if fault.retry_after_s is None else {"Retry-After": str(fault.retry_after_s)}
            return 429, _encode(_too_many(self.weights.limit)), extra, _JSON
        if fault is not None and fault.kind in _CANNED:
            status, content, media = _CANNED[fault.kind]
            return status, content, {}, media
        if self.weights.exceeded:
            return 429, _encode(_too_many(self.weights.limit)), {}, _JSON
        if endpoint is None:
            missing = {"code": -1000, "msg": f"Path {path}, Method {method} is invalid"}
            return 404, _encode(missing), {}, _JSON
        return fault

    def _banned(self, now: int) -> tuple[int, bytes, dict[str, str], str]:
        until = self.faults.banned_until_ms
        msg = (
            f"Way too much request weight used; IP banned until {until}. "
            "Please use the websocket for live updates to avoid bans."
        )
        extra = {}
        if self.faults.ban_retry_after:
            extra["Retry-After"] = str(max(1, math.ceil((until - now) / 1000)))
        return 418, _encode({"code": -1003, "msg": msg}), extra, _JSON

    def _dispatch(
        self,
        endpoint: Endpoint | None,
        api: str,
        params: Params | ApiError,
        headers: dict[str, str],
        query: str,
        body: str,
        now: int,
    ) -> tuple[int, object, dict[str, str]]:
        assert endpoint is not None
        try:
            if isinstance(params, ApiError):
                raise params
            account = None
            if endpoint.security != "NONE":
                account = self._authenticate(endpoint, api, params, headers, query, body, now)
            call = Call(params, account, now, "v3" if api == "v3" else "v1")
            result = endpoint.handler(self.venue, call)
        except ApiError as exc:
            return exc.status, exc.body(), exc.headers
        extra: dict[str, str] = {}
        if endpoint.counts_orders and account is not None:
            ten, minute = self.venue.order_meter.counts(account.account_id, now)
            extra = {"X-MBX-ORDER-COUNT-10S": str(ten), "X-MBX-ORDER-COUNT-1M": str(minute)}
        return 200, result, extra

    def _authenticate(
        self,
        endpoint: Endpoint,
        api: str,
        params: Params,
        headers: dict[str, str],
        query: str,
        body: str,
        now: int,
    ) -> FakeAccount:
        lookup = self.venue.lookup
        if api == "v3":
            return v3_account(query, body, params, lookup, self.verifier, self.nonces, now)
        if endpoint.security == "USER_STREAM":
            return api_key_account(headers, lookup)
        return hmac_account(headers, query, body, params, lookup, now)


_CANNED: dict[str, tuple[int, bytes, str]] = {
    "http_500": (
        500,
        _encode({"code": -1000, "msg": "An unknown error occurred while processing the request."}),
        _JSON,
    ),
    "http_502": (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    "http_503": (
        503,
        _encode(
            {
                "code": -1007,
                "msg": "Timeout waiting for response from backend server. "
                "Send status unknown; execution status unknown.",
            }
        ),
        _JSON,
    ),
    "invalid_timestamp": (400, _encode(error(TIMESTAMP_OUTSIDE).body()), _JSON),
}


def _too_many(limit: int) -> dict[str, object]:
    return {
        "code": -1003,
        "msg": (
            f"Too many requests; current limit of IP(127.0.0.1) is {limit} requests per minute. "
            "Please use the websocket for live updates to avoid polling the API."
        ),
    }


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the TCP connection without a response.

    uvicorn's ASGI ``send`` is a method of the per-request cycle, which holds the transport;
    aborting it is the only way an ASGI app can hang up without answering.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the 'disconnect' fault needs uvicorn's h11 or httptools protocol")
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass
