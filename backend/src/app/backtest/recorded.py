"""Recorded decisions, handed back to the loop in place of a model's (decision replay).

A recorded decision is what the journal keeps of it: each leg's ``requested`` proposal (with
its confidence, rationale and invalidation), the provider and model, the notes. The legs are
handed back in the order they were recorded; an account's database rows keep no order
between the legs of one decision, so they come back in the account's asset order.
"""

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.core.types import last_closed_open
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.context import DecisionContext
from app.llm.parsing import ParsedDecision, ParsedLeg
from app.llm.ports import DecisionOutcome
from app.records.memory_records import JournalDecision
from app.trading.domain import Action, Proposal
from app.trading.invalidation import Condition, InvalidationError, parse_condition

logger = logging.getLogger(__name__)

REPLAY_PROVIDER = "replay"
"""The provider name of a cycle no decision was recorded for (it holds)."""


class NoRecordedDecisions(ValueError):
    """The source holds no decision to replay."""


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """One decision as its journal kept it.

    Attributes:
        candle_time: Open time of the closed candle the decision was made for (UTC).
        provider: Who decided (``openrouter``, ``rules``...).
        model: The model (or the rule set's name).
        prompt_version: The prompt template's hash, if a model was asked.
        decided: False when the cycle held everything (no valid decision).
        summary: The decision's summary.
        legs: Each leg's ``requested`` document (the journal's JSON), in order.
        notes: The notes recorded with it.
        validation_error: Why the reply never validated (a hold), if it did not.
    """

    candle_time: datetime
    provider: str
    model: str | None
    prompt_version: str | None
    decided: bool
    summary: str | None
    legs: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = ()
    validation_error: str | None = None


def from_journal(decisions: Iterable[JournalDecision]) -> list[RecordedDecision]:
    """The recorded decisions of an in-memory journal (a backtest's), in their order."""
    return [
        RecordedDecision(
            d.candle_time,
            d.provider,
            d.model,
            d.prompt_version,
            d.status == "decided",
            d.summary,
            tuple(leg.requested for leg in d.legs),
            notes_of(d.parsed),
            d.validation_error,
        )
        for d in decisions
        if d.candle_time is not None
    ]


def from_stored(rows: Iterable[Mapping[str, Any]]) -> list[RecordedDecision]:
    """The decisions a finished backtest stored (the rows of ``GET .../decisions``).

    Raises:
        NoRecordedDecisions: A leg was stored without what it asked for (a run stored by an
            earlier version): it cannot be re-judged.
    """
    found: list[RecordedDecision] = []
    for row in rows:
        if row.get("candle_time") is None:
            continue
        legs = row.get("legs") or []
        if any(not isinstance(leg.get("requested"), dict) for leg in legs):
            raise NoRecordedDecisions(
                "this backtest's decisions were stored without their legs' requests "
                "(an earlier version): run it again to replay it"
            )
        found.append(
            RecordedDecision(
                datetime.fromisoformat(row["candle_time"]),
                str(row.get("provider")),
                row.get("model"),
                row.get("prompt_version"),
                row.get("status") == "decided",
                row.get("summary"),
                tuple(leg["requested"] for leg in legs),
                tuple(str(n) for n in row.get("notes") or ()),
                row.get("validation_error"),
            )
        )
    return found


def notes_of(parsed: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The notes a journal row keeps in its ``parsed`` document (``{"notes": [...]}``)."""
    notes = (parsed or {}).get("notes")
    return tuple(str(n) for n in notes) if isinstance(notes, list) else ()


class RecordedDecisions:
    """A decision provider that answers each cycle with the decision recorded for it.

    It never calls a model: the answer for a context is the record whose candle time is the
    context's last closed candle, parsed back into the validated decision a provider returns.
    A cycle without a record holds everything (and says so in its notes).

    Attributes:
        name: ``replay``.
        served: Cycles answered from a record.
        missing: Cycles without a record (held).
    """

    name = REPLAY_PROVIDER

    def __init__(
        self, decisions: Iterable[RecordedDecision], *, features: Collection[str] | None = None
    ) -> None:
        """Keep ``decisions`` by candle time (the first record of a time wins).

        Args:
            decisions: The recorded decisions.
            features: Feature names an invalidation may use (the indicators' by default).
        """
        self._by_time: dict[datetime, RecordedDecision] = {}
        for decision in decisions:
            self._by_time.setdefault(decision.candle_time, decision)
        self._features = features if features is not None else feature_names(IndicatorConfig())
        self._conditions: dict[tuple[str, frozenset[str]], Condition | None] = {}
        self.served = 0
        self.missing = 0

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """The recorded decision for ``context``'s candle, or a hold without one."""
        candle_time = last_closed_open(context.now, context.interval)
        record = self._by_time.get(candle_time)
        if record is None:
            self.missing += 1
            return DecisionOutcome(
                REPLAY_PROVIDER,
                REPLAY_PROVIDER,
                None,
                None,
                notes=(f"replay: no decision recorded for {candle_time.isoformat()}: held",),
            )
        self.served += 1
        notes = list(record.notes)
        decision = None
        if record.decided:
            intervals = frozenset({context.interval, context.long_interval})
            legs = [self._leg(doc, intervals, notes) for doc in record.legs]
            decision = ParsedDecision(tuple(legs), record.summary or "")
        return DecisionOutcome(
            record.provider,
            record.model or "",
            record.prompt_version,
            decision,
            validation_error=record.validation_error,
            notes=tuple(notes),
        )

    def _leg(
        self, doc: Mapping[str, Any], intervals: frozenset[str], notes: list[str]
    ) -> ParsedLeg:
        text = doc.get("invalidation")
        condition = self._condition(text, intervals, notes) if text else None
        return ParsedLeg(
            Proposal(
                str(doc["symbol"]),
                Action(doc["action"]),
                _decimal(doc.get("size_usd")),
                _decimal(doc.get("leverage")),
                _decimal(doc.get("stop_loss")),
                _decimal(doc.get("take_profit")),
            ),
            float(doc.get("confidence") or 0.0),
            str(doc.get("rationale") or ""),
            condition,
            str(doc.get("invalidation_text") or ""),
        )

    def _condition(
        self, text: str, intervals: frozenset[str], notes: list[str]
    ) -> Condition | None:
        key = (text, intervals)
        if key not in self._conditions:
            try:
                self._conditions[key] = parse_condition(
                    text, features=self._features, intervals=intervals
                )
            except InvalidationError as exc:
                # A stored canonical condition always parsed once; only a changed interval
                # or feature set can refuse it now: the position then keeps no condition.
                self._conditions[key] = None
                notes.append(f"replay: invalidation {text!r} no longer parses: {exc}")
        return self._conditions[key]


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
