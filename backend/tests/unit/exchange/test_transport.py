"""Single fault cases of the transport, with httpx.MockTransport (STYLE: only for these)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from app.core.clock import SystemClock
from app.exchange.errors import (
    ExchangeAuthError,
    ExchangeProtocolError,
    ExchangeRejected,
    ExchangeTemporaryError,
    InsufficientFunds,
    RateLimited,
)
from app.exchange.http.auth import HmacSigner
from app.exchange.http.transport import HttpTransport, RetryPolicy, Security

Handler = Callable[[httpx.Request], httpx.Response]
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.2)


def transport(handler: Handler, retry: RetryPolicy = FAST) -> HttpTransport:
    return HttpTransport(
        base_url="http://exchange.test",
        signer=HmacSigner(SecretStr("key"), SecretStr("secret")),
        clock=SystemClock(),
        transport=httpx.MockTransport(handler),
        retry=retry,
    )


def error(status: int, code: int, msg: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


async def test_weight_is_tracked_from_the_response_header() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"X-MBX-USED-WEIGHT-1m": "117"})

    client = transport(handler)
    await client.request("GET", "/fapi/v1/ping", retry_safe=True)
    await client.aclose()

    assert client.used_weight == 117


async def test_requests_over_the_weight_budget_are_not_sent() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={}, headers={"X-MBX-USED-WEIGHT-1M": "2390"})

    client = transport(handler)
    await client.request("GET", "/fapi/v1/ping", retry_safe=True)
    with pytest.raises(RateLimited, match="would exceed"):
        await client.request("GET", "/fapi/v1/klines", weight=10, retry_safe=True)
    # Order traffic may still use the reserve.
    await client.request("POST", "/fapi/v1/order", weight=1, retry_safe=False, priority=True)
    await client.aclose()

    assert [r.url.path for r in sent] == ["/fapi/v1/ping", "/fapi/v1/order"]


async def test_429_with_retry_after_waits_then_retries_a_safe_request() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(datetime.now(UTC).timestamp())
        if len(calls) == 1:
            return error(429, -1003, "Too many requests", **{"Retry-After": "1"})
        return httpx.Response(200, json={"ok": True})

    client = transport(handler, retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=2))
    assert await client.request("GET", "/fapi/v1/ping", retry_safe=True) == {"ok": True}
    await client.aclose()

    assert calls[1] - calls[0] >= 0.9


async def test_418_bans_every_request_until_the_ban_ends() -> None:
    until = datetime.now(UTC) + timedelta(minutes=3)
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        msg = f"Way too much request weight used; IP banned until {int(until.timestamp() * 1000)}."
        return error(418, -1003, msg)

    client = transport(handler)
    with pytest.raises(RateLimited) as first:
        await client.request("GET", "/fapi/v1/ping", retry_safe=True)
    with pytest.raises(RateLimited, match="not sent: banned") as second:
        await client.request("POST", "/fapi/v1/order", retry_safe=False, priority=True)
    await client.aclose()

    assert first.value.banned
    assert abs((first.value.retry_at - until).total_seconds()) < 0.01
    assert second.value.retry_at == first.value.retry_at
    assert sent == ["/fapi/v1/ping"]


async def test_invalid_timestamp_resyncs_the_clock_and_retries_once() -> None:
    server_ahead_ms = 30_000
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        now_ms = int(datetime.now(UTC).timestamp() * 1000) + server_ahead_ms
        if request.url.path == "/fapi/v1/time":
            return httpx.Response(200, json={"serverTime": now_ms})
        params = dict(httpx.QueryParams(request.content.decode()))
        if abs(int(params["timestamp"]) - now_ms) > 5000:
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return httpx.Response(200, json={"orderId": 1})

    client = transport(handler)
    result = await client.request(
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT")],
        security=Security.SIGNED,
        retry_safe=False,
    )
    await client.aclose()

    assert result == {"orderId": 1}
    assert seen == ["/fapi/v1/order", "/fapi/v1/time", "/fapi/v1/order"]
    assert abs(client.clock_offset_ms - server_ahead_ms) < 1000


async def test_5xx_is_retried_for_reads_but_never_for_orders() -> None:
    counts = {"GET": 0, "POST": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        counts[request.method] += 1
        return httpx.Response(502, text="bad gateway")

    client = transport(handler)
    with pytest.raises(ExchangeTemporaryError):
        await client.request("GET", "/fapi/v1/ping", retry_safe=True)
    with pytest.raises(ExchangeTemporaryError):
        await client.request("POST", "/fapi/v1/order", retry_safe=False)
    await client.aclose()

    assert counts == {"GET": 3, "POST": 1}


@pytest.mark.parametrize(
    ("response", "expected", "match"),
    [
        (
            error(401, -2015, "Invalid API-key, IP, or permissions for action."),
            ExchangeAuthError,
            "Invalid API-key",
        ),
        (
            error(400, -1022, "Signature for this request is not valid."),
            ExchangeAuthError,
            "code -1022",
        ),
        (error(400, -2019, "Margin is insufficient."), InsufficientFunds, "Margin"),
        (
            error(400, -4164, "Order's notional must be no smaller than 5"),
            ExchangeRejected,
            "-4164",
        ),
        (
            httpx.Response(200, json={"code": -1000, "msg": "An unknown error"}),
            ExchangeRejected,
            "unknown error",
        ),
        (httpx.Response(200, text='{"orderId": 12'), ExchangeProtocolError, "not JSON"),
        (
            error(400, -1007, "Timeout waiting for response from backend server."),
            ExchangeTemporaryError,
            "outcome unknown",
        ),
    ],
)
async def test_failures_are_classified(
    response: httpx.Response, expected: type[Exception], match: str
) -> None:
    client = transport(lambda request: response)
    with pytest.raises(expected, match=match):
        await client.request("POST", "/fapi/v1/order", retry_safe=False)
    await client.aclose()


async def test_signed_posts_send_the_exact_signed_body_and_the_key_header() -> None:
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(200, json={})

    client = transport(handler)
    await client.request(
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT"), ("quantity", "0.010")],
        security=Security.SIGNED,
        retry_safe=False,
    )
    await client.aclose()

    (request,) = captured
    body = request.content.decode()
    assert request.headers["X-MBX-APIKEY"] == "key"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert body.startswith("symbol=BTCUSDT&quantity=0.010&recvWindow=5000&timestamp=")
    assert body.rsplit("&", 1)[1].startswith("signature=")
    assert request.url.query == b""
    assert body.count("signature=") == 1
