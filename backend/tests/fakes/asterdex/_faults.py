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

``after`` lets that many matching requests through untouched before the fault acts (e.g. the
entry passes and the protective stop right after it gets the 429). Every time a fault acts it
is logged in ``FaultBook.hits`` (a :class:`FaultHit`: when, on what, and until when the fake
keeps refusing because of it), so a test can tell time lost to injected refusals.
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
    after: int = 0


@dataclass(frozen=True, slots=True)
class FaultHit:
    """One request a fault acted on.

    Attributes:
        time_ms: Server time of the request.
        method: Its HTTP method.
        path: Its path.
        kind: The fault's kind.
        until_ms: Until when the fault keeps the request (or, for ``http_418``, everything)
            from succeeding: the ban's end, the held response's release, or ``time_ms`` plus
            ``retry_after_s`` when the answer asks the client to wait.
    """

    time_ms: int
    method: str
    path: str
    kind: FaultKind
    until_ms: int


class FaultBook:
    """Injected faults and the IP ban one of them may have started."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.banned_until_ms = 0
        self.ban_retry_after = False
        self.hits: list[FaultHit] = []

    def inject(self, fault: Fault) -> None:
        """Arm ``fault``."""
        if fault.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        if fault.times == 0 or fault.times < -1:
            raise ValueError("Fault.times must be positive or -1 (forever)")
        if fault.after < 0:
            raise ValueError("Fault.after must be >= 0")
        self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault and lift any ban."""
        self._faults.clear()
        self.banned_until_ms = 0

    def take(
        self, method: str, names: frozenset[str], now_ms: int = 0, path: str = ""
    ) -> Fault | None:
        """Consume one use of the first fault matching ``method`` and any of ``names``.

        A matching fault still counting down its ``after`` lets this request through (and is
        not used up); the search goes on with the next fault.
        """
        for fault in self._faults:
            if fault.endpoint == "*" or _matches(fault.endpoint, method, names):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                self.hits.append(FaultHit(now_ms, method, path, fault.kind, _until(fault, now_ms)))
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


def _until(fault: Fault, now_ms: int) -> int:
    if fault.kind == "http_418":
        return (
            now_ms + (DEFAULT_BAN_S if fault.retry_after_s is None else fault.retry_after_s) * 1000
        )
    if fault.kind in ("latency", "timeout_after_accept"):
        return now_ms + round(fault.latency_s * 1000)
    return now_ms + (fault.retry_after_s or 0) * 1000


def _matches(endpoint: str, method: str, names: frozenset[str]) -> bool:
    fault_method, _, path = endpoint.partition(" ")
    return fault_method.upper() == method and path.strip() in names
