"""Scripted failures: a test says which endpoint misbehaves, how, and how many times.

An endpoint string is ``"METHOD /path"`` or ``"*"``. A V1 path and its V3 twin (e.g.
``POST /fapi/v1/order`` and ``POST /fapi/v3/order``, ``GET /fapi/v4/account`` and
``GET /fapi/v3/accountWithJoinMargin``) name the same endpoint, so one fault string hits
both APIs. Faults are consumed in the order they were injected.

What each kind does to a matching request:

- ``latency``: waits ``latency_s``, then handles the request normally.
- ``http_500`` / ``http_502`` / ``http_503``: answers that status *without* handling the
  request (nothing changes on the fake). 500 and 503 carry a JSON error (-1000 / -1007);
  502 carries an HTML page, as a proxy would.
- ``http_429``: answers 429 ``{"code": -1003, ...}`` without handling the request.
- ``http_418``: starts an IP ban of ``retry_after_s`` seconds (120 when unset) by the clock;
  until it ends every request gets 418 ``{"code": -1003, "msg": "... banned until <ms> ..."}``.
- ``invalid_timestamp``: answers 400 -1021 whatever the timestamp.
- ``timeout_after_accept``: handles the request (state changes, stream events go out), then
  holds the response for ``latency_s`` before sending it.
- ``malformed_body``: handles the request, then answers 200 with the JSON cut in half.
- ``disconnect``: closes the TCP connection without any response; the request is not handled.

``Retry-After`` (seconds) is sent with 429/418 only when ``retry_after_s`` is set.
"""

from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal[
    "latency",
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "http_418",
    "invalid_timestamp",
    "timeout_after_accept",
    "malformed_body",
    "disconnect",
]
DEFAULT_BAN_S = 120


@dataclass
class Fault:
    """One scripted failure (see the module docstring for each kind)."""

    endpoint: str
    kind: FaultKind
    times: int = 1
    latency_s: float = 0.5
    retry_after_s: int | None = None


class FaultBook:
    """Injected faults and the IP ban one of them may have started."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.banned_until_ms = 0
        self.ban_retry_after = False

    def inject(self, fault: Fault) -> None:
        """Arm ``fault``."""
        if fault.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        if fault.times == 0 or fault.times < -1:
            raise ValueError("Fault.times must be positive or -1 (forever)")
        self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault and lift any ban."""
        self._faults.clear()
        self.banned_until_ms = 0

    def take(self, method: str, names: frozenset[str]) -> Fault | None:
        """Consume one use of the first fault matching ``method`` and any of ``names``."""
        for fault in self._faults:
            if fault.endpoint == "*" or _matches(fault.endpoint, method, names):
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def start_ban(self, fault: Fault, now_ms: int) -> None:
        """Begin the 418 ban that ``fault`` describes."""
        seconds = DEFAULT_BAN_S if fault.retry_after_s is None else fault.retry_after_s
        self.banned_until_ms = now_ms + seconds * 1000
        self.ban_retry_after = fault.retry_after_s is not None

    def banned(self, now_ms: int) -> bool:
        """Whether the ban is still running."""
        return now_ms < self.banned_until_ms


def _matches(endpoint: str, method: str, names: frozenset[str]) -> bool:
    fault_method, _, path = endpoint.partition(" ")
    return fault_method.upper() == method and path.strip() in names
