"""How journal rows and stream payloads are shaped from domain values (JSON-safe).

Text a model or an exchange wrote is redacted here (:mod:`app.core.secrets`), before it
reaches a row.
"""

import uuid
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from app.core.secrets import SecretRedactor, redact, redact_json, redact_optional, registry
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome, LlmCallRecord
from app.trading.domain import Adjustment, LegVerdict, OrderPlan, Proposal
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
    """What a journal keeps of one leg: requested, approved, every adjustment (redacted).

    The model's texts in ``requested`` and the rules' texts in ``adjustments`` are redacted;
    ``approved`` holds only what the risk engine computed.
    """
    redactor = registry()
    if _AS_WRITTEN and type(verdict.proposal) is Proposal and redactor.spares(_LEG_KEYS):
        return _leg_fields_direct(verdict, leg, redactor)
    return _leg_fields_walked(verdict, leg)


# The fields _leg_fields_direct and _plan_json write by name, in the dataclasses' order.
_PROPOSAL_FIELDS: Final = ("symbol", "action", "size_usd", "leverage", "stop_loss", "take_profit")
_ADJUSTMENT_FIELDS: Final = ("rule", "field", "requested", "approved", "reason")
_PLAN_FIELDS: Final = ("symbol", "side", "quantity", "reduce_only", "purpose")
# Should one of these types gain, lose or reorder a field, the direct ways would keep a
# different document than to_json: the general ways take over until they are taught it
# (a unit test fails meanwhile).
_AS_WRITTEN: Final = (
    _field_names(Proposal) == _PROPOSAL_FIELDS
    and _field_names(Adjustment) == _ADJUSTMENT_FIELDS
    and _field_names(OrderPlan) == _PLAN_FIELDS
)
# Every key name _leg_fields_direct writes into the documents that are redacted.
_LEG_KEYS: Final = (
    *_PROPOSAL_FIELDS,
    "confidence",
    "rationale",
    "invalidation",
    "invalidation_text",
    *_ADJUSTMENT_FIELDS,
)


def _leg_fields_direct(
    verdict: LegVerdict, leg: ParsedLeg | None, redactor: SecretRedactor
) -> dict[str, Any]:
    """:func:`_leg_fields_walked`'s result, built field by field (once per leg of a backtest).

    Each value gets exactly what ``redact_json(to_json(...))`` would give it, without walking
    whole documents: a text is redacted, a decimal's text is kept as it is while no secret
    could be found in it (:attr:`~app.core.secrets.SecretRedactor.spares_decimals`), and
    anything else takes the general way. The key names are written as they are: the caller
    checked that redaction leaves them so (:meth:`~app.core.secrets.SecretRedactor.spares`).
    The documents' key order is the walked one's.
    """
    proposal = verdict.proposal
    text = redactor.redact
    # Most texts repeat cycle after cycle (symbols, actions, rule texts): a look-up, no call.
    redacted = redactor.redactions().get
    decimals = redactor.spares_decimals

    def shown(value: Any) -> Any:  # redact_json(to_json(value))
        if isinstance(value, str):  # str subclasses and StrEnums too, as the walk does
            found = redacted(value)
            return found if found is not None else text(value)
        if value is None:
            return None
        if decimals and type(value) is Decimal:
            return str(value)
        return redact_json(to_json(value))

    def kept(value: Any) -> Any:  # redact_json(value): the parsed leg's values are not converted
        if isinstance(value, str):
            found = redacted(value)
            return found if found is not None else text(value)
        return value if type(value) is float or value is None else redact_json(value)

    requested = {
        "symbol": shown(proposal.symbol),
        "action": shown(proposal.action),
        "size_usd": shown(proposal.size_usd),
        "leverage": shown(proposal.leverage),
        "stop_loss": shown(proposal.stop_loss),
        "take_profit": shown(proposal.take_profit),
    }
    if leg is not None:
        requested["confidence"] = kept(leg.confidence)
        requested["rationale"] = kept(leg.rationale)
        requested["invalidation"] = kept(leg.invalidation.canonical if leg.invalidation else None)
        requested["invalidation_text"] = kept(leg.invalidation_text)
    adjustments = [
        (
            {
                "rule": shown(a.rule),
                "field": shown(a.field),
                "requested": shown(a.requested),
                "approved": shown(a.approved),
                "reason": shown(a.reason),
            }
            if type(a) is Adjustment
            else redact_json(to_json(a))
        )
        for a in verdict.adjustments
    ]
    return {
        "symbol": proposal.symbol,
        "action": proposal.action.value,
        "requested": requested,
        "approved": _approved(verdict),
        "adjustments": adjustments,
        "status": verdict.status.value,
    }


def _approved(verdict: LegVerdict) -> dict[str, Any] | None:
    """What the risk engine approved of a leg (its own values: nothing to redact), or None."""
    if not verdict.orders:
        return None
    return {
        "orders": [
            _plan_json(o) if _AS_WRITTEN and type(o) is OrderPlan else to_json(o)
            for o in verdict.orders
        ],
        "leverage": verdict.leverage,
        "stop_loss": to_json(verdict.stop_loss),
        "take_profit": to_json(verdict.take_profit),
        "notional_usd": to_json(verdict.notional_usd),
    }


def _plan_json(plan: OrderPlan) -> dict[str, Any]:
    """``to_json(plan)``, field by field (the same dict, without looking its fields up)."""
    return {
        "symbol": to_json(plan.symbol),
        "side": to_json(plan.side),
        "quantity": to_json(plan.quantity),
        "reduce_only": to_json(plan.reduce_only),
        "purpose": to_json(plan.purpose),
    }


def _leg_fields_walked(verdict: LegVerdict, leg: ParsedLeg | None) -> dict[str, Any]:
    """:func:`leg_fields` the general way: whole documents converted, then redacted.

    For a proposal of another type than :class:`~app.trading.domain.Proposal` (a subclass's
    fields), and while a secret would change a key name.
    """
    proposal = verdict.proposal
    requested = to_json(proposal)
    if leg is not None:
        requested.update(
            confidence=leg.confidence,
            rationale=leg.rationale,
            invalidation=leg.invalidation.canonical if leg.invalidation else None,
            invalidation_text=leg.invalidation_text,
        )
    return {
        "symbol": proposal.symbol,
        "action": proposal.action.value,
        "requested": redact_json(requested),  # the model's rationale and invalidation text
        "approved": _approved(verdict),
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
