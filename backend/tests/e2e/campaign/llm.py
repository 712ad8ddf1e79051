"""What the model says: one scripted decision per step, otherwise "hold everything".

The service asks the model at every cycle, and not only at the cycles the campaign triggers
(its own first cycle after a start, the hourly one). So a decision is not queued on the fake
OpenRouter (where a stale one could surface steps later): it is handed to the next request
that arrives, whoever triggered it, and replaced by the next step's.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.openrouter import ChatRequest, FakeOpenRouter, Reply

Leg = dict[str, Any]


def leg(asset: str, action: str = "hold", **fields: Any) -> Leg:
    """One asset's decision document, holding unless told otherwise."""
    base: Leg = {
        "symbol": asset,
        "action": action,
        "size_usd": None,
        "leverage": None,
        "stop_loss": None,
        "take_profit": None,
        "invalidation": None,
        "confidence": 0.7,
        "rationale": f"campaign: {action} {asset}",
    }
    return {**base, **fields}


def price_field(value: Decimal) -> float:
    """A price as the model writes it (a JSON number, 2 decimals)."""
    return float(value.quantize(Decimal("0.01")))


@dataclass
class DecisionDesk:
    """Answers the fake OpenRouter's chat requests for the campaign.

    Args:
        router: The fake; its ``default_reply`` becomes this desk.
        assets: Every traded asset (each gets a leg in every answer).
    """

    router: FakeOpenRouter
    assets: Sequence[str]
    _pending: list[Leg] | None = None
    _delay_s: float = 0.0
    served: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.router.default_reply = self._answer

    def decide(self, legs: Sequence[Leg], *, delay_s: float = 0.0) -> None:
        """The next request gets ``legs`` (others hold), answered after ``delay_s``."""
        self._pending = list(legs)
        self._delay_s = delay_s

    def withdraw(self) -> None:
        """Forget a decision no request took."""
        self._pending = None

    @property
    def pending(self) -> bool:
        """Whether a decision waits for a request."""
        return self._pending is not None

    def _answer(self, request: ChatRequest) -> Reply:
        del request  # the answer does not depend on the prompt
        legs, self._pending = self._pending or [], None
        named = {item["symbol"] for item in legs}
        document = {
            "decisions": [*legs, *(leg(a) for a in self.assets if a not in named)],
            "summary": "campaign",
        }
        self.served.append(", ".join(f"{x['action']} {x['symbol']}" for x in legs) or "hold")
        reply = Reply.json(document)
        if legs and self._delay_s > 0:
            return Reply.delay(self._delay_s, reply)
        return reply
