"""What every part of the client shares: the transport, the path scheme, the clock."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from app.core.clock import Clock, SystemClock
from app.exchange.errors import ExchangeRejected
from app.exchange.filters import SymbolFilters
from app.exchange.http import endpoints as ep
from app.exchange.http.auth import RequestSigner
from app.exchange.http.transport import HttpTransport, RetryPolicy


class ClientBase:
    """Holds the transport; ``_call`` sends an :class:`~app.exchange.http.endpoints.Endpoint`.

    Args:
        base_url: REST root, e.g. ``https://fapi.asterdex.com``.
        signer: Signs requests (HMAC or V3); None for public market data only.
        clock: Time source (exchange time is this plus the measured offset).
        timeout_s: Per-request timeout.
        retry: Retry policy for requests that are safe to repeat.
        transport: An httpx transport (tests inject one for single fault cases).
    """

    def __init__(
        self,
        *,
        base_url: str,
        signer: RequestSigner | None = None,
        clock: Clock | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._signer = signer
        self._http = HttpTransport(
            base_url=base_url,
            signer=signer,
            clock=self._clock,
            timeout_s=timeout_s,
            retry=retry,
            transport=transport,
        )
        self._v3 = signer is not None and signer.scheme == "v3"
        # exchangeInfo cache (see MarketDataMixin.exchange_info).
        self._filters: dict[str, SymbolFilters] = {}
        self._filters_at: datetime | None = None
        self._rate_limits: list[dict[str, Any]] = []

    @property
    def clock(self) -> Clock:
        """The client's time source (request timestamps, waits)."""
        return self._clock

    @property
    def transport(self) -> HttpTransport:
        """The underlying transport (weight used, clock offset)."""
        return self._http

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def sync_time(self) -> int:
        """Measure the offset between the exchange's clock and ours; return it in ms."""
        return await self._http.sync_time(self._path(ep.TIME))

    def _path(self, endpoint: ep.Endpoint) -> str:
        return endpoint.v3_path if self._v3 else endpoint.v1_path

    async def _call(
        self,
        endpoint: ep.Endpoint,
        params: Sequence[tuple[str, str]] = (),
        *,
        weight: int | None = None,
        retry_safe: bool | None = None,
        rejection: type[ExchangeRejected] = ExchangeRejected,
    ) -> Any:
        return await self._http.request(
            endpoint.method,
            self._path(endpoint),
            params,
            security=endpoint.security,
            weight=endpoint.weight if weight is None else weight,
            retry_safe=endpoint.method == "GET" if retry_safe is None else retry_safe,
            priority=endpoint.priority,
            time_path=self._path(ep.TIME),
            rejection=rejection,
        )
