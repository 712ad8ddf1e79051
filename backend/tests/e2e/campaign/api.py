"""The service's REST API as an operator uses it, with every answer's status remembered.

The campaign's invariant "no answer is a 500" (a database outage must answer 503): every
request goes through :meth:`ServiceApi.request`, which keeps each 500 with the step it
happened in and counts every status.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

ACCOUNT = "default"
PAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ServerError:
    """One 500 answer."""

    step: str
    method: str
    path: str
    body: str


class ServiceApi:
    """An HTTP client for the service's ``/api/v1``, following it across restarts.

    Args:
        token: The full-access bearer token (``API_TOKEN``).
        base_url: Where the service listens now (re-read on every request).
        step: The current step's label, stamped on every 500 kept.
    """

    def __init__(self, token: str, base_url: Callable[[], str], step: Callable[[], str]) -> None:
        self._base_url = base_url
        self._step = step
        self._http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        self.server_errors: list[ServerError] = []
        self.statuses: Counter[int] = Counter()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, timeout_s: float = 10.0, **kwargs: Any
    ) -> httpx.Response | None:
        """One request; None when the service could not be reached or did not answer in time."""
        url = f"{self._base_url()}/api/v1{path}"
        try:
            response = await self._http.request(method, url, timeout=timeout_s, **kwargs)
        except httpx.TransportError:
            return None
        self.statuses[response.status_code] += 1
        if response.status_code == 500:
            self.server_errors.append(ServerError(self._step(), method, path, response.text[:300]))
        return response

    async def _json(self, path: str, **kwargs: Any) -> Any:
        response = await self.request("GET", path, **kwargs)
        if response is None or response.status_code != 200:
            return None
        return response.json()

    async def cycle(self, timeout_s: float = 40.0) -> httpx.Response | None:
        """``POST .../agent/cycle``: run one cycle now (answers once it is over)."""
        return await self.request("POST", f"/accounts/{ACCOUNT}/agent/cycle", timeout_s=timeout_s)

    async def agent(self) -> dict[str, Any] | None:
        """``GET .../agent``, or None when unavailable."""
        body = await self._json(f"/accounts/{ACCOUNT}/agent", timeout_s=5.0)
        return body if isinstance(body, dict) else None

    async def positions(self) -> list[dict[str, Any]] | None:
        """``GET .../positions``, or None when unavailable."""
        body = await self._json(f"/accounts/{ACCOUNT}/positions")
        return body if isinstance(body, list) else None

    async def fills(self) -> list[dict[str, Any]] | None:
        """Every fill, all pages (None when any page is unavailable)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": PAGE_LIMIT}
            if cursor is not None:
                params["cursor"] = cursor
            body = await self._json(f"/accounts/{ACCOUNT}/fills", params=params)
            if not isinstance(body, dict):
                return None
            items.extend(body["items"])
            cursor = body.get("next_cursor")
            if cursor is None:
                return items

    async def events(self, kind: str) -> list[dict[str, Any]] | None:
        """The newest events of type ``kind`` (one page), or None when unavailable."""
        body = await self._json(
            f"/accounts/{ACCOUNT}/events", params={"type": kind, "limit": PAGE_LIMIT}
        )
        return body["items"] if isinstance(body, dict) else None

    async def last_decision_legs(self) -> list[str]:
        """The newest decision's non-hold legs: action, status and the risk rules applied."""
        page = await self._json(f"/accounts/{ACCOUNT}/decisions", params={"limit": 1})
        if not isinstance(page, dict) or not page["items"]:
            return []
        decision = await self._json(f"/accounts/{ACCOUNT}/decisions/{page['items'][0]['id']}")
        if not isinstance(decision, dict):
            return []
        return [
            f"{item['action']} {item['symbol']} {item['status']}"
            + "".join(f" [{a['rule']}: {a['reason']}]" for a in item["adjustments"])
            for item in decision["legs"]
            if item["action"] != "hold"
        ]

    async def read_everything(self) -> None:
        """What a dashboard reads (answers only matter for the 500 count)."""
        for path in (
            f"/accounts/{ACCOUNT}",
            f"/accounts/{ACCOUNT}/positions",
            f"/accounts/{ACCOUNT}/orders?open=true",
            f"/accounts/{ACCOUNT}/fills",
            f"/accounts/{ACCOUNT}/decisions",
            f"/accounts/{ACCOUNT}/events",
            "/status",
        ):
            await self.request("GET", path, timeout_s=5.0)
