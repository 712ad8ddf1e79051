"""How journal rows and stream payloads are shaped from domain values (JSON-safe).

Text a model or an exchange wrote is redacted here (:mod:`app.core.secrets`), before it
reaches a row.
"""

import uuid
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.core.secrets import redact, redact_json, redact_optional
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome, LlmCallRecord
from app.trading.domain import LegVerdict
from app.trading.models import DecisionLeg, Order


def to_json(value: Any) -> Any:
    """``value`` with decimals, times and enums turned into JSON-safe values.

    A dataclass becomes the dict of its fields (as ``dataclasses.asdict`` would make it,
    without copying everything once before converting it again).
    """
    kind = type(value)
    # The common exact types first, without the checks against unions and ABCs below.
    if kind is str or value is None:
        return value
    if kind is Decimal:
        return str(value)
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    names = _field_names(type(value))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if hasattr(value, "value"):
        return value.value
    return value


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type (None for any other type), looked up once."""
    if kind not in _FIELD_NAMES:
        _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind)) if is_dataclass(kind) else None
    return _FIELD_NAMES[kind]


def leg_fields(verdict: LegVerdict, leg: ParsedLeg | None) -> dict[str, Any]:
    """What a journal keeps of one leg: requested, approved, every adjustment (redacted)."""
    proposal = verdict.proposal
    requested = to_json(proposal)
    if leg is not None:
        requested.update(
            confidence=leg.confidence,
            rationale=leg.rationale,
            invalidation=leg.invalidation.canonical if leg.invalidation else None,
            invalidation_text=leg.invalidation_text,
        )
    approved = None
    if verdict.orders:
        approved = {
            "orders": [to_json(o) for o in verdict.orders],
            "leverage": verdict.leverage,
            "stop_loss": to_json(verdict.stop_loss),
            "take_profit": to_json(verdict.take_profit),
            "notional_usd": to_json(verdict.notional_usd),
        }
    return {
        "symbol": proposal.symbol,
        "action": proposal.action.value,
        "requested": redact_json(requested),  # the model's rationale and invalidation text
        "approved": approved,
        "adjustments": redact_json([to_json(a) for a in verdict.adjustments]),
        "status": verdict.status.value,
    }


def leg_row(
    decision_id: uuid.UUID, verdict: LegVerdict, leg: ParsedLeg | None, at: datetime
) -> DecisionLeg:
    """The journal row of one leg (:func:`leg_fields`), written at ``at``."""
    return DecisionLeg(decision_id=decision_id, created_at=at, **leg_fields(verdict, leg))


def redacted_calls(calls: Sequence[LlmCallRecord]) -> list[LlmCallRecord]:
    """The calls with their prompt, raw reply and error redacted (the rest as it was)."""
    return [
        replace(
            call,
            prompt=redact(call.prompt),
            raw_reply=redact_optional(call.raw_reply),
            error=redact_optional(call.error),
        )
        for call in calls
    ]


def order_data(row: Order) -> dict[str, Any]:
    """An order row as a stream payload."""
    data: dict[str, Any] = to_json(
        {
            "account_id": row.account_id,
            "client_order_id": row.client_order_id,
            "symbol": row.symbol,
            "side": row.side,
            "type": row.type,
            "purpose": row.purpose,
            "quantity": row.quantity,
            "stop_price": row.stop_price,
            "status": row.status,
            "filled_quantity": row.filled_quantity,
            "average_price": row.average_price,
            "error": row.error,
        }
    )
    return data


def llm_cost(outcome: DecisionOutcome) -> dict[str, Any] | None:
    """The LLM usage of one decision, or None when no model was asked."""
    if not outcome.calls:
        return None
    costs = [c.cost_usd for c in outcome.calls if c.cost_usd is not None]
    return {
        "model": outcome.model,
        "calls": len(outcome.calls),
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in outcome.calls),
        "completion_tokens": sum(c.completion_tokens or 0 for c in outcome.calls),
        "cost_usd": str(sum(costs, Decimal(0))),
    }
