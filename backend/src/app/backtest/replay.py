"""Decision replay ("what if"): recorded decisions re-judged under other settings.

Every cycle of a replay is a backtest cycle on the same candles, except that the decision
comes from the record of the original cycle (:class:`~app.backtest.recorded.RecordedDecisions`)
instead of the model or the rules: the risk engine judges it under the replay's settings, and
the paper exchange fills what it approves. No LLM is asked. With the original settings a
replay makes the original trades exactly; with tighter ones it shows what the limits would
have changed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from app.backtest.engine import BacktestRun, ProgressHook, SourceFactory, run_backtest
from app.backtest.metrics import BacktestMetrics, metrics_json
from app.backtest.recorded import (
    NoRecordedDecisions,
    RecordedDecision,
    RecordedDecisions,
    from_journal,
)
from app.backtest.results import Trade, summarize, trades
from app.backtest.spec import BacktestSpec, ProviderKind
from app.market_data.frames import FrameCache
from app.runtime.builder import Shared


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
    # ``is None``, not ``or``: a FrameCache has a length, so an empty one is falsy.
    kept = original.frames if original is not None else None
    frames = kept if kept is not None else FrameCache()
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
