"""One signed, rate-aware, retrying HTTP exchange with AsterDEX (spec §2, §4, §5).

``HttpTransport.request`` owns everything between "call this endpoint with these parameters"
and "here is the decoded JSON": the clock offset, signing, the request-weight budget, bans,
retries of requests that are safe to repeat, and the translation of every failure into the
:mod:`app.exchange.errors` tree.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final

import httpx

from app.core.backoff import jittered_backoff
from app.core.clock import Clock
from app.exchange.errors import (
    ExchangeAuthError,
    ExchangeError,
    ExchangeProtocolError,
    ExchangeRejected,
    ExchangeTemporaryError,
    InsufficientFunds,
    RateLimited,
)
from app.exchange.http.auth import Params, RequestSigner
from app.exchange.http.constants import (
    AUTH_CODES,
    INSUFFICIENT_FUNDS_CODES,
    INVALID_TIMESTAMP,
    UNKNOWN_OUTCOME_CODES,
    WEIGHT_LIMIT_PER_MINUTE,
    WEIGHT_RESERVE,
)

logger = logging.getLogger(__name__)

_BANNED_UNTIL: Final = re.compile(r"banned until (\d{12,})")
_DEFAULT_BAN_S: Final = 120  # spec §4.1: bans start at 2 minutes


class Security(Enum):
    """Spec §2.1 security types, reduced to what the transport must do."""

    NONE = "none"  # public
    KEY = "key"  # API-key header only (V1 listenKey); signed under V3
    SIGNED = "signed"  # timestamp + signature (V1) / nonce + EIP-712 (V3)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How requests that are safe to repeat are retried.

    Attributes:
        attempts: Total tries, the first included.
        base_delay_s: First backoff; doubles each time, with full jitter.
        max_delay_s: Longest single wait, including one asked for by ``Retry-After``.
    """

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (1-based), with full jitter."""
        return jittered_backoff(attempt, self.base_delay_s, self.max_delay_s)


class HttpTransport:
    """Sends requests for one account (or for public data when ``signer`` is None)."""

    def __init__(
        self,
        *,
        base_url: str,
        signer: RequestSigner | None,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        weight_limit: int = WEIGHT_LIMIT_PER_MINUTE,
    ) -> None:
        self._signer = signer
        self._clock = clock
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)
        self._retry = retry or RetryPolicy()
        self._weight_limit = weight_limit
        self._offset_ms = 0
        self._used_weight = 0
        self._weight_minute = -1
        self._blocked_until: datetime | None = None
        self._block_is_ban = False

    @property
    def base_url(self) -> str:
        """The REST root requests go to."""
        return str(self._http.base_url).rstrip("/")

    @property
    def used_weight(self) -> int:
        """Request weight used in the current minute, as the exchange last reported it."""
        return self._used_weight if self._weight_minute == self._minute() else 0

    @property
    def clock_offset_ms(self) -> int:
        """Exchange time minus local time, as last measured."""
        return self._offset_ms

    def now_ms(self) -> int:
        """The exchange's current time as this client estimates it."""
        return int(self._clock.now().timestamp() * 1000) + self._offset_ms

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def sync_time(self, path: str) -> int:
        """Measure the clock offset against ``GET {path}`` (server time); return it in ms."""
        before = self._clock.now()
        data = await self.request("GET", path, weight=1, retry_safe=True, sync_clock=False)
        after = self._clock.now()
        local_mid = int(((before.timestamp() + after.timestamp()) / 2) * 1000)
        try:
            self._offset_ms = int(data["serverTime"]) - local_mid
        except (KeyError, TypeError, ValueError) as exc:
            raise ExchangeProtocolError(f"bad server time reply: {data!r}") from exc
        return self._offset_ms

    async def request(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        security: Security = Security.NONE,
        weight: int = 1,
        retry_safe: bool,
        priority: bool = False,
        sync_clock: bool = True,
        time_path: str = "/fapi/v1/time",
        rejection: type[ExchangeRejected] = ExchangeRejected,
    ) -> Any:
        """Send one request and return its decoded JSON.

        Args:
            method: HTTP method.
            path: Path under the base URL.
            params: Business parameters, values as strings, in wire order.
            security: What authentication the endpoint needs.
            weight: The endpoint's request weight (spec §5).
            retry_safe: Whether repeating the request is harmless (reads, keepalives). Only
                those are retried on temporary failures.
            priority: Order traffic: may use the weight kept in reserve.
            sync_clock: On -1021, resync the clock and retry once.
            time_path: Server-time endpoint for that resync.
            rejection: Error class for refusals (OrderRejected for order endpoints).

        Raises:
            ExchangeError: Any failure, classified (see :mod:`app.exchange.errors`).
        """
        endpoint = f"{method} {path}"
        attempt = 1
        resynced = not sync_clock
        while True:
            try:
                return await self._send_once(
                    method, path, params, security, weight, priority, rejection
                )
            except ExchangeRejected as exc:
                if exc.exchange_code == INVALID_TIMESTAMP and not resynced:
                    resynced = True
                    offset = await self.sync_time(time_path)
                    logger.warning(
                        "%s: clock outside recvWindow, offset now %d ms", endpoint, offset
                    )
                    continue
                raise
            except RateLimited as exc:
                wait = (exc.retry_at - self._clock.now()).total_seconds()
                if exc.banned or not retry_safe or attempt >= self._retry.attempts:
                    raise
                if wait > self._retry.max_delay_s:
                    raise
                logger.info("%s: %s; waiting %.2f s", endpoint, exc, max(wait, 0))
                await self._clock.sleep_until(exc.retry_at)
                attempt += 1
            except ExchangeTemporaryError as exc:
                if not retry_safe or attempt >= self._retry.attempts:
                    raise
                delay = self._retry.delay(attempt)
                logger.info("%s: %s; retry %d in %.2f s", endpoint, exc, attempt, delay)
                await self._sleep(delay)
                attempt += 1

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Params,
        security: Security,
        weight: int,
        priority: bool,
        rejection: type[ExchangeRejected],
    ) -> Any:
        endpoint = f"{method} {path}"
        self._check_budget(endpoint, weight, priority)
        encoded, headers = self._encode(params, security)
        query, body = (
            (encoded, None) if method in ("GET", "DELETE") or not encoded else ("", encoded)
        )
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = f"{path}?{query}" if query else path
        try:
            response = await self._http.request(method, url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise ExchangeTemporaryError("timed out", endpoint=endpoint) from exc
        except httpx.TransportError as exc:
            raise ExchangeTemporaryError(f"network error: {exc!r}", endpoint=endpoint) from exc
        self._record_weight(response)
        return self._decode(endpoint, response, rejection)

    def _encode(self, params: Params, security: Security) -> tuple[str, dict[str, str]]:
        if security is Security.NONE or self._signer is None:
            if security is not Security.NONE:
                raise ExchangeAuthError("this request needs exchange credentials")
            return str(httpx.QueryParams(list(params))), {}
        headers = self._signer.headers()
        if security is Security.KEY and self._signer.scheme == "hmac":
            return str(httpx.QueryParams(list(params))), headers
        return self._signer.sign(params, self.now_ms()), headers

    def _decode(
        self, endpoint: str, response: httpx.Response, rejection: type[ExchangeRejected]
    ) -> Any:
        status = response.status_code
        if status in (418, 429) or (status == 403 and "code" not in response.text):
            raise self._rate_limited(endpoint, response)
        try:
            data = response.json()
        except ValueError:
            if status >= 500:
                raise ExchangeTemporaryError(f"HTTP {status}", endpoint=endpoint) from None
            raise ExchangeProtocolError(
                f"HTTP {status} with a body that is not JSON: {response.text[:200]!r}",
                endpoint=endpoint,
            ) from None
        if status >= 500:
            raise ExchangeTemporaryError(f"HTTP {status}: {_msg(data)}", endpoint=endpoint)
        if status >= 400 or _is_error_envelope(data):
            raise _rejection(endpoint, status, data, rejection)
        return data

    def _rate_limited(self, endpoint: str, response: httpx.Response) -> RateLimited:
        banned = response.status_code == 418
        now = self._clock.now()
        # 429 without Retry-After: short backoff. 403 (WAF): a minute.
        default_s = 60.0 if response.status_code == 403 else self._retry.base_delay_s
        retry_at = now + timedelta(seconds=default_s)
        if (header := response.headers.get("Retry-After")) and header.isdigit():
            retry_at = now + timedelta(seconds=int(header))
        elif banned:
            retry_at = now + timedelta(seconds=_DEFAULT_BAN_S)
            match = _BANNED_UNTIL.search(response.text)
            if match:
                retry_at = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        self._blocked_until = max(retry_at, self._blocked_until or retry_at)
        self._block_is_ban = banned
        kind = "IP banned" if banned else "rate limited"
        logger.warning("%s: %s until %s", endpoint, kind, retry_at.isoformat())
        return RateLimited(
            f"{kind} (HTTP {response.status_code}) until {retry_at.isoformat()}",
            retry_at=retry_at,
            banned=banned,
            endpoint=endpoint,
        )

    def _check_budget(self, endpoint: str, weight: int, priority: bool) -> None:
        now = self._clock.now()
        if self._blocked_until is not None:
            if now < self._blocked_until:
                raise RateLimited(
                    f"not sent: {'banned' if self._block_is_ban else 'backing off'} until "
                    f"{self._blocked_until.isoformat()}",
                    retry_at=self._blocked_until,
                    banned=self._block_is_ban,
                    endpoint=endpoint,
                )
            self._blocked_until = None
        budget = self._weight_limit - (0 if priority else WEIGHT_RESERVE)
        if self.used_weight + weight > budget:
            next_minute = datetime.fromtimestamp((self._minute() + 1) * 60, UTC)
            raise RateLimited(
                f"not sent: request weight {self.used_weight}+{weight} would exceed {budget}",
                retry_at=next_minute,
                banned=False,
                endpoint=endpoint,
            )

    def _record_weight(self, response: httpx.Response) -> None:
        for name, value in response.headers.items():
            lowered = name.lower()
            minute_weight = lowered.startswith("x-mbx-used-weight-") and lowered.endswith("1m")
            if minute_weight and value.isdigit():
                self._used_weight = int(value)
                self._weight_minute = self._minute()

    def _minute(self) -> int:
        return int(self.now_ms() // 60_000)

    async def _sleep(self, seconds: float) -> None:
        await self._clock.sleep_until(self._clock.now() + timedelta(seconds=seconds))


def _msg(data: Any) -> str:
    return str(data.get("msg", data)) if isinstance(data, dict) else str(data)


def _is_error_envelope(data: Any) -> bool:
    """A 200 whose body is ``{"code": <negative>, "msg": ...}`` is an error too."""
    return isinstance(data, dict) and isinstance(data.get("code"), int) and data["code"] < 0


def _rejection(
    endpoint: str, status: int, data: Any, rejection: type[ExchangeRejected]
) -> ExchangeError:
    code = data.get("code") if isinstance(data, dict) else None
    code = code if isinstance(code, int) else None
    message = _msg(data)
    if code in UNKNOWN_OUTCOME_CODES:
        return ExchangeTemporaryError(
            f"outcome unknown: {message} (code {code})", endpoint=endpoint
        )
    if code in AUTH_CODES or status == 401:
        return ExchangeAuthError(message, code=code, http_status=status, endpoint=endpoint)
    if code in INSUFFICIENT_FUNDS_CODES:
        return InsufficientFunds(message, code=code, http_status=status, endpoint=endpoint)
    return rejection(message, code=code, http_status=status, endpoint=endpoint)
