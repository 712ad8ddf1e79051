"""The overview's alerts from the account's state, its risk day and the clock's time: the
cases a short service test cannot reach (a daily-loss halt, a stale agent)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from app.agent.supervisor import AgentState
from app.api.overview import overview_alerts
from app.api.views import PositionRead
from app.trading.domain import RiskState

NOW = datetime(2026, 3, 9, 11, 0, 5, tzinfo=UTC)


def position(symbol: str, *, protected: bool) -> PositionRead:
    return PositionRead(
        symbol=symbol,
        side="long",
        quantity=Decimal("0.01"),
        entry_price=Decimal("66000"),
        mark_price=Decimal("66100"),
        unrealized_pnl=Decimal("1"),
        leverage=2,
        protected=protected,
        protection=[],
        thesis=None,
    )


def kinds(
    *,
    state: AgentState = AgentState.RUNNING,
    detail: str = "running",
    risk: RiskState | None = None,
    positions: Sequence[PositionRead] = (),
    interval: str = "1h",
    last_decision_at: datetime | None = NOW - timedelta(minutes=5),
) -> list[tuple[str, str, str]]:
    alerts = overview_alerts(
        state=state,
        detail=detail,
        risk=risk,
        positions=positions,
        now=NOW,
        interval=interval,
        last_decision_at=last_decision_at,
    )
    return [(a.kind, a.severity, a.message) for a in alerts]


def test_a_running_agent_with_a_fresh_decision_has_no_alert() -> None:
    assert kinds() == []
    assert kinds(last_decision_at=None) == []  # none yet: not stale (kept simple)
    assert kinds(last_decision_at=NOW - timedelta(hours=2)) == []  # exactly 2 x INTERVAL


def test_a_decision_older_than_two_bars_is_stale_while_the_agent_runs() -> None:
    old = NOW - timedelta(hours=2, seconds=1)

    ((kind, severity, message),) = kinds(last_decision_at=old)
    assert (kind, severity) == ("stale_data", "warning")
    assert old.isoformat() in message
    assert "INTERVAL 1h" in message
    assert kinds(last_decision_at=NOW - timedelta(minutes=31), interval="15m")[0][0] == (
        "stale_data"
    )
    # A paused agent decides nothing on purpose.
    assert kinds(state=AgentState.PAUSED, last_decision_at=old) == []


def test_a_halt_counts_on_its_own_day_only() -> None:
    today = RiskState(date(2026, 3, 9), Decimal(10000), halted=True, halt_reason="daily loss 5%")
    yesterday = RiskState(date(2026, 3, 8), Decimal(10000), halted=True, halt_reason="old")

    assert kinds(risk=today) == [("halt", "critical", "daily loss 5%")]
    assert kinds(risk=yesterday) == []


def test_stopped_halted_and_unprotected_are_critical_paused_is_not() -> None:
    positions = [
        position("BTCUSDT", protected=False),
        position("ETHUSDT", protected=True),
        position("SOLUSDT", protected=False),
    ]

    assert kinds(positions=positions) == [
        ("protection_missing", "critical", "no working stop-loss on BTCUSDT, SOLUSDT")
    ]
    assert kinds(state=AgentState.STOPPED, detail="stopped on error: X") == [
        ("loop_stopped", "critical", "stopped on error: X")
    ]
    assert kinds(state=AgentState.HALTED, detail="halted: kill")[0][0] == "loop_stopped"
    assert kinds(state=AgentState.PAUSED, detail="paused by an operator: x") == []


def test_a_replay_that_played_its_whole_recording_is_a_warning_not_an_emergency() -> None:
    ended = kinds(state=AgentState.STOPPED, detail="finished")
    stopped = kinds(state=AgentState.STOPPED, detail="stopped by an operator")

    assert ended == [
        (
            "loop_stopped",
            "warning",
            "the replay reached the end of its recording (restart to replay again)",
        )
    ]
    assert stopped == [("loop_stopped", "critical", "stopped by an operator")]
