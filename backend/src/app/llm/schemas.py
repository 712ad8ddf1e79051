"""The decision schema: what a model must answer, as pydantic models and as a JSON schema.

The JSON schema (:data:`DECISION_JSON_SCHEMA`) is sent as ``response_format`` with
``strict: true``; strict mode wants every property listed as required and no extra keys, so
optional values are nullable instead of absent. The pydantic models validate what comes
back, whatever the route enforced.
"""

from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

ActionName = Literal["open_long", "open_short", "close", "reduce", "hold"]
SCHEMA_NAME: Final = "trading_decision"


class InvalidationModel(BaseModel):
    """When the trade's thesis no longer holds: a checkable condition plus prose."""

    model_config = ConfigDict(extra="forbid")

    condition: str = Field(
        max_length=200,
        description="Boolean expression over features, e.g. 'close_4h < ema50_4h'",
    )
    text: str = Field(default="", max_length=500)


class AssetDecisionModel(BaseModel):
    """The model's decision for one asset."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32, description="Asset (BTC) or symbol")
    action: ActionName
    size_usd: Decimal | None = Field(default=None, ge=0, description="Notional in USD")
    leverage: Decimal | None = Field(default=None, gt=0)
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)
    invalidation: InvalidationModel | None = None
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(default="", max_length=1500)


class DecisionModel(BaseModel):
    """The whole answer: one entry per asset and a portfolio-level summary."""

    model_config = ConfigDict(extra="forbid")

    decisions: list[AssetDecisionModel] = Field(max_length=50)
    summary: str = Field(default="", max_length=2000)


def _nullable(kind: str, description: str) -> dict[str, Any]:
    return {"type": [kind, "null"], "description": description}


DECISION_JSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["decisions", "summary"],
    "properties": {
        "summary": {"type": "string", "description": "Portfolio-level reasoning, brief"},
        "decisions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "symbol",
                    "action",
                    "size_usd",
                    "leverage",
                    "stop_loss",
                    "take_profit",
                    "invalidation",
                    "confidence",
                    "rationale",
                ],
                "properties": {
                    "symbol": {"type": "string", "description": "Asset, e.g. BTC"},
                    "action": {
                        "type": "string",
                        "enum": ["open_long", "open_short", "close", "reduce", "hold"],
                    },
                    "size_usd": _nullable("number", "Entry or reduction notional in USD"),
                    "leverage": _nullable("number", "Leverage for an entry"),
                    "stop_loss": _nullable("number", "Stop price; required for entries"),
                    "take_profit": _nullable("number", "Target price"),
                    "invalidation": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "required": ["condition", "text"],
                        "properties": {
                            "condition": {
                                "type": "string",
                                "description": "e.g. close_4h < ema50_4h (see the grammar)",
                            },
                            "text": {"type": "string"},
                        },
                    },
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "rationale": {"type": "string"},
                },
            },
        },
    },
}
