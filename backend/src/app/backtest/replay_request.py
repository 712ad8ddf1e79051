"""A decision replay asked for over the API: the finished run's decisions and request.

The replay runs the original's recorded decisions on the original's candles, under the
original's settings changed by the caller's; the original's metrics are kept to set the
replay's beside them in its notes.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.backtest import store
from app.backtest.errors import BacktestNotFinished, InvalidBacktest, UnknownBacktest
from app.backtest.recorded import NoRecordedDecisions, RecordedDecision, from_stored
from app.backtest.replay import replay_spec
from app.backtest.spec import BacktestSpec, spec_of_description
from app.core.errors import ConfigError
from app.db.session import SessionFactory, session_scope

HEADLINE = ("total_return_pct", "max_drawdown_pct", "sharpe", "trades", "win_rate", "fees")
"""The metrics a replay's notes set beside the original's."""


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What a replay runs, and what it is compared with.

    Attributes:
        spec: The replay's request (the original's, with the changed settings, no model).
        decisions: The original's recorded decisions.
        original_id: The original run.
        original_metrics: The original's metrics (as stored).
    """

    spec: BacktestSpec
    decisions: list[RecordedDecision]
    original_id: str
    original_metrics: dict[str, Any]

    def comparison(self, replayed: Mapping[str, Any]) -> list[str]:
        """Notes that set the replay's headline metrics beside the original's."""
        lines = [f"decision replay of {self.original_id}: original -> replay"]
        for name in HEADLINE:
            lines.append(f"{name}: {self.original_metrics.get(name)} -> {replayed.get(name)}")
        return lines


async def replay_request(
    sessions: SessionFactory,
    original_id: str,
    overrides: Mapping[str, str],
    title: str | None = None,
) -> ReplayRequest:
    """Read a finished run back and make the replay's request.

    Raises:
        UnknownBacktest: No run has ``original_id``.
        BacktestNotFinished: The original has not ended (its decisions are not stored).
        InvalidBacktest: The stored run cannot be replayed (one line per problem).
    """
    async with session_scope(sessions) as session:
        row = await store.get_run(session, original_id)
        _, stored = await store.get_series(session, original_id, "decisions")
    if row is None:
        raise UnknownBacktest(f"no backtest {original_id!r}")
    if stored is None:
        raise BacktestNotFinished(f"backtest {original_id!r} has not ended")
    try:
        decisions = from_stored(stored)
        original = spec_of_description(row.config)
    except (ConfigError, NoRecordedDecisions) as exc:
        problems = exc.problems if isinstance(exc, ConfigError) else (str(exc),)
        raise InvalidBacktest(list(problems)) from exc
    if not decisions:
        raise InvalidBacktest([f"backtest {original_id!r} recorded no decision to replay"])
    spec = replace(
        replay_spec(original),
        settings={**original.settings, **overrides},
        title=title or f"{row.title or original_id}: decision replay",
    )
    return ReplayRequest(spec, decisions, original_id, dict(row.metrics or {}))
