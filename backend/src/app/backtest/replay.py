"""Decision replay ("what if"): recorded decisions re-judged under other settings.

Every cycle of a replay is a backtest cycle on the same candles, except that the decision
comes from the record of the original cycle (:class:`RecordedDecisions`) instead of the
model or the rules: the risk engine judges it under the replay's settings, and the paper
exchange fills what it approves. No LLM is asked. With the original settings a replay makes
the original trades exactly; with tighter ones it shows what the limits would have changed.

A recorded decision is what the journal keeps of it: each leg's ``requested`` proposal (with
its confidence, rationale and invalidation), the provider and model, the notes. The legs are
handed back in the order they were recorded; an account's database rows keep no order
between the legs of one decision, so they come back in the account's asset order.
"""

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from app.backtest.engine import BacktestRun, ProgressHook, SourceFactory, run_backtest
from app.backtest.metrics import BacktestMetrics, metrics_json
from app.backtest.results import Trade, summarize, trades
from app.backtest.spec import BacktestSpec, ProviderKind
from app.core.types import interval_delta, last_closed_open
from app.db.session import SessionFactory, session_scope
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.context import DecisionContext
from app.llm.parsing import ParsedDecision, ParsedLeg
from app.llm.ports import DecisionOutcome
from app.market_data.frames import FrameCache
from app.records.memory_records import JournalDecision
from app.runtime.builder import Shared
from app.trading.domain import Action, Proposal
from app.trading.invalidation import Condition, InvalidationError, parse_condition
from app.trading.models import Decision, DecisionLeg, EquitySnapshot
from app.trading.runs import ACCOUNT_RUN

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
            _notes(d.parsed),
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


def _notes(parsed: Mapping[str, Any] | None) -> tuple[str, ...]:
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


@dataclass(frozen=True, slots=True)
class ReplaySide:
    """One side of a comparison: a run, its metrics and its trades."""

    run: BacktestRun
    metrics: BacktestMetrics
    trades: list[Trade]


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """One metric of the original and of the replay; ``delta`` is replay minus original."""

    name: str
    original: object
    replay: object
    delta: Decimal | None


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A replay beside the run it re-judged.

    Attributes:
        original: The original run (or, for an account, its decisions replayed under the
            original settings: the same simulation, so that only the settings differ).
        replay: The decisions re-judged under ``settings``.
        settings: The overrides the replay ran with.
        served: Cycles of the replay answered from a record.
        missing: Cycles of the replay without a record (held).
    """

    original: ReplaySide
    replay: ReplaySide
    settings: Mapping[str, str]
    served: int
    missing: int
    notes: list[str] = field(default_factory=list)

    def comparison(self) -> list[MetricDelta]:
        """Every metric of both sides, with the difference where both are numbers."""
        before, after = metrics_json(self.original.metrics), metrics_json(self.replay.metrics)
        return [
            MetricDelta(name, before[name], after[name], _delta(before[name], after[name]))
            for name in before
        ]

    def to_json(self) -> dict[str, object]:
        """JSON-safe: settings, both sides' metrics, the deltas, both sides' fills."""
        return {
            "settings": dict(self.settings),
            "original_run_id": self.original.run.run_id,
            "replay_run_id": self.replay.run.run_id,
            "served": self.served,
            "missing": self.missing,
            "fills": {"original": len(self.original.trades), "replay": len(self.replay.trades)},
            "metrics": [
                {
                    "name": m.name,
                    "original": m.original,
                    "replay": m.replay,
                    "delta": str(m.delta) if m.delta is not None else None,
                }
                for m in self.comparison()
            ],
            "notes": list(self.notes),
            "trades": {
                "original": [t.to_json() for t in self.original.trades],
                "replay": [t.to_json() for t in self.replay.trades],
            },
        }


def _delta(before: object, after: object) -> Decimal | None:
    numbers = []
    for value in (before, after):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            numbers.append(Decimal(str(value)))
        except InvalidOperation:
            return None
    return numbers[1] - numbers[0]


async def replay_decisions(
    spec: BacktestSpec,
    decisions: Sequence[RecordedDecision],
    overrides: Mapping[str, str],
    source_of: SourceFactory,
    *,
    original: BacktestRun | None = None,
    on_progress: ProgressHook | None = None,
) -> ReplayResult:
    """Re-judge ``decisions`` under ``spec``'s settings updated by ``overrides``.

    Args:
        spec: The original run's request (window, assets, intervals, balance, settings).
        decisions: Its recorded decisions.
        overrides: ``NAME=VALUE`` settings to change (validated like ``--set``).
        source_of: The candles the original ran on.
        original: The original run when it is at hand (a backtest); None replays the
            decisions under the original settings too, as the baseline.
        on_progress: Told after every cycle of the replay.

    Returns:
        Both sides and their comparison.

    Raises:
        NoRecordedDecisions: ``decisions`` is empty.
        app.core.errors.ConfigError: A bad override, or candles that cannot serve the window.
    """
    if not decisions:
        raise NoRecordedDecisions("no recorded decision to replay")
    base = replay_spec(spec)
    notes: list[str] = []
    # Both sides see the same candles: each indicator frame is computed once for both.
    frames = (original.frames if original is not None else None) or FrameCache()
    if original is None:
        original, _ = await _replayed(base, decisions, source_of, None, frames)
        notes.append("original: the recorded decisions replayed under the original settings")
    changed = replace(base, settings={**base.settings, **overrides})
    replayed, provider = await _replayed(changed, decisions, source_of, on_progress, frames)
    if provider.missing:
        notes.append(f"{provider.missing} cycles had no recorded decision and held")
    return ReplayResult(
        await _side(original),
        await _side(replayed),
        dict(overrides),
        provider.served,
        provider.missing,
        notes,
    )


def replay_spec(spec: BacktestSpec) -> BacktestSpec:
    """``spec`` as a replay runs it: no model (so no key, price check or cost cap)."""
    return replace(
        spec,
        provider=ProviderKind.RULES,
        model=None,
        max_cost_usd=None,
        title=f"{spec.title or 'run'} (decision replay)",
    )


async def replay_run(
    run: BacktestRun, overrides: Mapping[str, str], *, on_progress: ProgressHook | None = None
) -> ReplayResult:
    """Re-judge a finished backtest's decisions under ``overrides`` on its own candles."""
    return await replay_decisions(
        run.spec,
        from_journal(run.journal.decisions),
        overrides,
        run.source_of,
        original=run,
        on_progress=on_progress,
    )


async def _replayed(
    spec: BacktestSpec,
    decisions: Sequence[RecordedDecision],
    source_of: SourceFactory,
    on_progress: ProgressHook | None,
    frames: FrameCache,
) -> tuple[BacktestRun, RecordedDecisions]:
    provider = RecordedDecisions(decisions)

    def hook(shared: Shared) -> None:
        shared.decide = provider

    run = await run_backtest(
        spec, source_of, on_progress=on_progress, shared_hook=hook, frames=frames
    )
    return run, provider


async def _side(run: BacktestRun) -> ReplaySide:
    _, metrics = await summarize(run)
    return ReplaySide(run, metrics, trades(run.journal))


@dataclass(frozen=True, slots=True)
class AccountHistory:
    """An account's recorded decisions and the window they cover.

    Attributes:
        decisions: Its decisions, oldest first.
        start: The first decision's close (the replay's start).
        end: Just after the last decision's close (the replay's end, exclusive).
        balance: The account's equity at (or just before) its first decision, if recorded.
    """

    decisions: list[RecordedDecision]
    start: datetime
    end: datetime
    balance: Decimal | None


async def account_history(
    sessions: SessionFactory,
    account_id: str,
    interval: str,
    *,
    assets: Sequence[str] = (),
    run_id: str = ACCOUNT_RUN,
) -> AccountHistory:
    """An account's own decisions from the database (its run ``account`` by default).

    Args:
        sessions: The database.
        account_id: The account.
        interval: Its decision interval (a decision's close is its candle time plus one).
        assets: Its symbols in their configured order (the legs come back in that order;
            other symbols after them, by name).
        run_id: The run whose decisions to read.

    Raises:
        NoRecordedDecisions: The account has no decision with a candle time in that run.
    """
    async with session_scope(sessions) as session:
        rows = list(
            await session.scalars(
                select(Decision)
                .where(
                    Decision.run_id == run_id,
                    Decision.account_id == account_id,
                    Decision.candle_time.is_not(None),
                )
                .order_by(Decision.created_at, Decision.candle_time)
            )
        )
        if not rows:
            raise NoRecordedDecisions(f"account {account_id} has no recorded decision")
        legs: dict[Any, list[DecisionLeg]] = {}
        for leg in await session.scalars(
            select(DecisionLeg).where(DecisionLeg.decision_id.in_([r.id for r in rows]))
        ):
            legs.setdefault(leg.decision_id, []).append(leg)
        balance = await session.scalar(
            select(EquitySnapshot.equity)
            .where(
                EquitySnapshot.run_id == run_id,
                EquitySnapshot.account_id == account_id,
                EquitySnapshot.taken_at <= rows[0].created_at,
            )
            .order_by(EquitySnapshot.taken_at.desc())
            .limit(1)
        )
    rank = _asset_rank(assets)
    decisions = [
        RecordedDecision(
            _when(row.candle_time),
            row.provider,
            row.model,
            row.prompt_version,
            row.status == "decided",
            row.summary,
            tuple(
                leg.requested
                for leg in sorted(legs.get(row.id, []), key=lambda leg: rank(leg.symbol))
            ),
            _notes(row.parsed),
            row.validation_error,
        )
        for row in rows
    ]
    step = interval_delta(interval)
    times = [d.candle_time for d in decisions]
    return AccountHistory(decisions, min(times) + step, max(times) + 2 * step, balance)


def _when(value: datetime | None) -> datetime:
    if value is None:  # filtered out by the query
        raise NoRecordedDecisions("a decision without a candle time")
    return value


def _asset_rank(assets: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    order: dict[str, int] = {}
    for index, asset in enumerate(assets):
        name = asset.strip().upper()
        order.setdefault(name, index)
        order.setdefault(f"{name}USDT", index)

    def rank(symbol: str) -> tuple[int, str]:
        return order.get(symbol.upper(), len(order)), symbol

    return rank
