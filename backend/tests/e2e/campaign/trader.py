"""A second signed client on the same AsterDEX account: the human trading by hand.

Deliberately independent of the service's own client (plain httpx, HMAC-SHA256 over the
query string, spec §2), so a manual trade cannot share a bug with what it tests.
"""

import hashlib
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.e2e.campaign.service import wall_ms


class ManualTrader:
    """Places MARKET orders by hand, with its own ``manual-<n>`` client ids."""

    def __init__(self, base_url: str, api_key: str, api_secret: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, headers={"X-MBX-APIKEY": api_key}, timeout=10.0
        )
        self._secret = api_secret.encode()
        self._count = 0

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def market(
        self, symbol: str, side: str, quantity: Decimal, *, reduce_only: bool
    ) -> dict[str, Any]:
        """Place a MARKET order; returns the exchange's answer (raises on an error status)."""
        self._count += 1
        params: dict[str, str] = {
            "symbol": symbol,
            "side": side,
            "type": "MARKET",
            "quantity": format(quantity, "f"),
            "newClientOrderId": f"manual-{self._count}-{wall_ms()}",
            "newOrderRespType": "RESULT",
            "timestamp": str(wall_ms()),
        }
        if reduce_only:
            params["reduceOnly"] = "true"
        query = urlencode(params)
        signature = hmac.new(self._secret, query.encode(), hashlib.sha256).hexdigest()
        response = await self._http.post(f"/fapi/v1/order?{query}&signature={signature}")
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer
