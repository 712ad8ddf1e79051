"""The journal port's contract: the SQL journal (PostgreSQL) and the memory journal keep it alike.

Every test runs on both. Each implementation is read back through a small reader that turns
what it holds into the same plain values (the SQL rows, the memory journal's records), so one
assertion states what both must keep. Known differences (decimal scale, refused references'
exception types) are spelled out where a test meets them; see ``app.records.memory_journal``.
"""

import asyncio
import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from app.agent.models import AgentControl, AgentEvent
from app.agent.ports import IN_FLIGHT, OPEN, Journal, PendingOrder, SavedThesis
from app.core.secrets import REDACTED, register_secrets
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.ports import AccountState, Execution, PositionState
from app.exchange.types import ExchangeOrder, OrderRequest, OrderStatus, OrderType, Side
from app.llm.models import LlmCall
from app.llm.parsing import ParsedDecision, ParsedLeg
from app.llm.ports import DecisionOutcome, LlmCallRecord
from app.records.memory_journal import MemoryJournal
from app.records.memory_records import JournalIntegrityError
from app.records.publishing import JournalPublisher
from app.records.sql_journal import SqlJournal
from app.trading.domain import (
    Action,
    Adjustment,
    LegStatus,
    LegVerdict,
    OrderPlan,
    Proposal,
    RiskState,
)
from app.trading.invalidation import parse_condition
from app.trading.models import (
    Decision,
    DecisionLeg,
    EquitySnapshot,
    Fill,
    Order,
    PositionSnapshot,
    RiskStateRow,
)
from app.trading.repository import sync_accounts
from tests.db import Database

ACCOUNT, OTHER = "main", "second"
# Not secret-shaped: only the registry of configured secrets can mask it.
SECRET = "journal-contract-secret-5b7e1c9d"
register_secrets([SECRET])  # the registry only grows: harmless for the rest of the session
# Far from the wall clock, so a record stamped with "now" by mistake cannot pass.
T0 = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
# Refusals: the database raises its integrity error, the memory journal its own.
REFUSED = (IntegrityError, JournalIntegrityError)
JOURNAL_TABLES = (
    "agent_events",
    "decisions",
    "decision_legs",
    "llm_calls",
    "orders",
    "fills",
    "equity_snapshots",
    "position_snapshots",
    "risk_states",
    "paper_accounts",
    "agent_controls",
)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Recorder:
    """The event bus's place: keeps what the journal's publisher sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.times: list[datetime | None] = []  # the `at` of each, in the same order

    def publish(
        self, channel: str, event: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        self.sent.append((channel, event, dict(data)))
        self.times.append(at)

    def times_on(self, channel: str) -> list[datetime | None]:
        return [
            t
            for (sent_on, _, _), t in zip(self.sent, self.times, strict=True)
            if sent_on == channel
        ]

    def events(self, channel: str) -> list[str]:
        return [event for sent_on, event, _ in self.sent if sent_on == channel]


class Reader(Protocol):
    """What a test reads back, the same plain values from either implementation."""

    async def events(self) -> list[dict[str, Any]]: ...
    async def decisions(self) -> dict[uuid.UUID, dict[str, Any]]: ...
    async def orders(self) -> dict[str, dict[str, Any]]: ...
    async def fills(self) -> dict[tuple[str, str, str], dict[str, Any]]: ...
    async def equity(self) -> dict[tuple[str, datetime], Decimal]: ...
    async def positions(self) -> dict[tuple[str, str, datetime], tuple[str, Decimal]]: ...
    async def risk_updated_at(self, account_id: str) -> datetime | None: ...
    async def control_updated_at(self, account_id: str) -> datetime | None: ...
    async def everything(self) -> str: ...


def _order(row: Any, leg_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "account_id": row.account_id,
        "leg_id": leg_id,
        "symbol": row.symbol,
        "purpose": row.purpose,
        "quantity": row.quantity,
        "status": row.status,
        "status_history": list(row.status_history),
        "exchange_order_id": row.exchange_order_id,
        "filled_quantity": row.filled_quantity,
        "average_price": row.average_price,
        "error": row.error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _leg(row: Any) -> dict[str, Any]:
    return {
        "decision_id": row.decision_id,
        "symbol": row.symbol,
        "action": row.action,
        "requested": row.requested,
        "approved": row.approved,
        "adjustments": row.adjustments,
        "status": row.status,
        "created_at": row.created_at,
    }


def _decision(row: Any) -> dict[str, Any]:
    return {
        "account_id": row.account_id,
        "status": row.status,
        "summary": row.summary,
        "parsed": row.parsed,
        "validation_error": row.validation_error,
        "created_at": row.created_at,
        "candle_time": row.candle_time,
    }


class SqlReader:
    """Reads the SQL journal's rows."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def events(self) -> list[dict[str, Any]]:
        async with session_scope(self._sessions) as session:
            rows = await session.scalars(select(AgentEvent).order_by(AgentEvent.occurred_at))
            return [
                {
                    "account_id": r.account_id,
                    "kind": r.type,
                    "severity": r.severity,
                    "message": r.message,
                    "payload": r.payload,
                    "decision_id": r.decision_id,
                    "occurred_at": r.occurred_at,
                }
                for r in rows
            ]

    async def decisions(self) -> dict[uuid.UUID, dict[str, Any]]:
        async with session_scope(self._sessions) as session:
            found = {row.id: _decision(row) for row in await session.scalars(select(Decision))}
            for decision in found.values():
                decision["calls"], decision["legs"] = [], {}
            for call in await session.scalars(select(LlmCall).order_by(LlmCall.created_at)):
                assert call.decision_id is not None
                found[call.decision_id]["calls"].append((call.prompt, call.raw_reply, call.error))
            for leg in await session.scalars(select(DecisionLeg)):
                found[leg.decision_id]["legs"][leg.id] = _leg(leg)
            return found

    async def orders(self) -> dict[str, dict[str, Any]]:
        async with session_scope(self._sessions) as session:
            return {
                row.client_order_id: _order(row, row.decision_leg_id)
                for row in await session.scalars(select(Order))
            }

    async def fills(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        async with session_scope(self._sessions) as session:
            rows = await session.execute(
                select(Fill, Order.client_order_id).outerjoin(Order, Fill.order_id == Order.id)
            )
            return {
                (fill.account_id, fill.symbol, fill.trade_id): {
                    "order": client_id,
                    "quantity": fill.quantity,
                    "filled_at": fill.filled_at,
                }
                for fill, client_id in rows.tuples()
            }

    async def equity(self) -> dict[tuple[str, datetime], Decimal]:
        async with session_scope(self._sessions) as session:
            rows = await session.scalars(select(EquitySnapshot))
            return {(r.account_id, r.taken_at): r.equity for r in rows}

    async def positions(self) -> dict[tuple[str, str, datetime], tuple[str, Decimal]]:
        async with session_scope(self._sessions) as session:
            rows = await session.scalars(select(PositionSnapshot))
            return {(r.account_id, r.symbol, r.taken_at): (r.side, r.quantity) for r in rows}

    async def risk_updated_at(self, account_id: str) -> datetime | None:
        async with session_scope(self._sessions) as session:
            updated: datetime | None = await session.scalar(
                select(RiskStateRow.updated_at).where(RiskStateRow.account_id == account_id)
            )
            return updated

    async def control_updated_at(self, account_id: str) -> datetime | None:
        async with session_scope(self._sessions) as session:
            updated: datetime | None = await session.scalar(
                select(AgentControl.updated_at).where(AgentControl.account_id == account_id)
            )
            return updated

    async def everything(self) -> str:
        """Every journal table's every row as JSON text."""
        parts: list[str] = []
        async with session_scope(self._sessions) as session:
            for table in JOURNAL_TABLES:  # fixed names, not input
                rows = await session.scalars(text(f"SELECT row_to_json(t)::text FROM {table} t"))
                parts.extend(rows)
        return "\n".join(parts)


class MemoryReader:
    """Reads the memory journal's records."""

    def __init__(self, journal: MemoryJournal) -> None:
        self._journal = journal

    async def events(self) -> list[dict[str, Any]]:
        return [
            {
                "account_id": e.account_id,
                "kind": e.kind,
                "severity": e.severity,
                "message": e.message,
                "payload": e.payload,
                "decision_id": e.decision_id,
                "occurred_at": e.occurred_at,
            }
            for e in self._journal.events
        ]

    async def decisions(self) -> dict[uuid.UUID, dict[str, Any]]:
        found = {}
        for decision in self._journal.decisions:
            found[decision.id] = _decision(decision) | {
                "calls": [(c.prompt, c.raw_reply, c.error) for c in decision.calls],
                "legs": {leg.id: _leg(leg) for leg in decision.legs},
            }
        return found

    async def orders(self) -> dict[str, dict[str, Any]]:
        return {o.client_order_id: _order(o, o.leg_id) for o in self._journal.orders}

    async def fills(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {
            (f.account_id, f.symbol, f.trade_id): {
                "order": f.order_client_id,
                "quantity": f.quantity,
                "filled_at": f.filled_at,
            }
            for f in self._journal.fill_records
        }

    async def equity(self) -> dict[tuple[str, datetime], Decimal]:
        return {(p.account_id, p.taken_at): p.equity for p in self._journal.equity}

    async def positions(self) -> dict[tuple[str, str, datetime], tuple[str, Decimal]]:
        return {
            (p.account_id, p.symbol, p.taken_at): (p.side, p.quantity)
            for p in self._journal.positions
        }

    async def risk_updated_at(self, account_id: str) -> datetime | None:
        saved = self._journal.risk_states.get(account_id)
        return saved.updated_at if saved is not None else None

    async def control_updated_at(self, account_id: str) -> datetime | None:
        saved = self._journal.controls.get(account_id)
        return saved.updated_at if saved is not None else None

    async def everything(self) -> str:
        j = self._journal
        held = (j.events, j.decisions, j.orders, j.fill_records, j.equity, j.positions)
        paper = [await j.paper_state(a) for a in (ACCOUNT, OTHER)]
        return repr((*held, dict(j.risk_states), dict(j.controls), paper))


@dataclass
class Subject:
    """One implementation under test, its reader and what it streamed."""

    journal: Journal
    read: Reader
    bus: Recorder = field(default_factory=Recorder)


@pytest.fixture
async def sql_subject(pg: Database) -> Subject:
    async with session_scope(pg.sessions) as session:
        accounts = [(AccountId(a), TradingMode.PAPER) for a in (ACCOUNT, OTHER)]
        await sync_accounts(session, accounts)  # the rows the journal's keys point at
    bus = Recorder()
    return Subject(SqlJournal(pg.sessions, JournalPublisher(bus)), SqlReader(pg.sessions), bus)


@pytest.fixture
def memory_subject() -> Subject:
    bus = Recorder()
    journal = MemoryJournal(JournalPublisher(bus))
    return Subject(journal, MemoryReader(journal), bus)


@pytest.fixture(params=[pytest.param("sql", marks=pytest.mark.postgres), "memory"])
def subject(request: pytest.FixtureRequest) -> Subject:
    """Each implementation in turn."""
    found: Subject = request.getfixturevalue(f"{request.param}_subject")
    return found


# -- values --------------------------------------------------------------------------------


def proposal(symbol: str = "BTCUSDT") -> Proposal:
    return Proposal(
        symbol, Action.OPEN_LONG, Decimal(1000), Decimal(2), Decimal(60000), Decimal(70000)
    )


def parsed_leg(symbol: str = "BTCUSDT", rationale: str = "breakout") -> ParsedLeg:
    condition = parse_condition("close_1h < 60000", features={"close"}, intervals={"1h"})
    return ParsedLeg(proposal(symbol), 0.7, f"{rationale} ({SECRET})", condition, "below 60k")


def verdict(symbol: str = "BTCUSDT", stop: str = "61000") -> LegVerdict:
    return LegVerdict(
        proposal(symbol),
        LegStatus.ADJUSTED,
        orders=(OrderPlan(symbol, Side.BUY, Decimal("0.015"), False, "entry"),),
        leverage=2,
        stop_loss=Decimal(stop),
        take_profit=Decimal(70000),
        notional_usd=Decimal(900),
        adjustments=(Adjustment("max_position", "size_usd", "1000", "900", f"cap {SECRET}"),),
    )


def call(minutes: int, status: str = "ok") -> LlmCallRecord:
    return LlmCallRecord(
        provider="openrouter",
        model="model-a",
        prompt=f"prompt with {SECRET}",
        prompt_hash="ab" * 32,
        raw_reply=f"reply with {SECRET}",
        status=status,
        started_at=at(minutes),
        latency_ms=1200,
        prompt_tokens=100,
        completion_tokens=50,
        cost_usd=Decimal("0.0125"),
        error=f"error with {SECRET}" if status != "ok" else None,
    )


def outcome(*legs: ParsedLeg) -> DecisionOutcome:
    return DecisionOutcome(
        provider="openrouter",
        model="model-a",
        prompt_version="v7",
        decision=ParsedDecision(tuple(legs), f"summary {SECRET}"),
        calls=(call(0, "invalid"), call(1)),
        validation_error=f"first reply had {SECRET}",
        notes=(f"note {SECRET}",),
    )


def hold_all() -> DecisionOutcome:
    return DecisionOutcome("rules", "rules-v1", None, None)


def request(client_id: str, symbol: str = "BTCUSDT", quantity: str = "0.015") -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, OrderType.MARKET, client_id, Decimal(quantity))


def exchange_order(
    client_id: str, status: OrderStatus, filled: str = "0", avg: str = "0"
) -> ExchangeOrder:
    return ExchangeOrder(
        symbol="BTCUSDT",
        order_id=424242,
        client_order_id=client_id,
        side=Side.BUY,
        type="MARKET",
        status=status,
        orig_qty=Decimal("0.015"),
        executed_qty=Decimal(filled),
        price=Decimal(0),
        avg_price=Decimal(avg),
        stop_price=Decimal(0),
        reduce_only=False,
        close_position=False,
        working_type=None,
        update_time=T0,
    )


def execution(
    trade_id: str, client_id: str, minutes: int = 0, symbol: str = "BTCUSDT"
) -> Execution:
    return Execution(
        symbol=symbol,
        client_order_id=client_id,
        order_id=424242,
        trade_id=trade_id,
        side="BUY",
        price=Decimal("65000.5"),
        quantity=Decimal("0.005"),
        fee=Decimal("0.13"),
        fee_asset="USDT",
        realized_pnl=Decimal(0),
        maker=False,
        time=at(minutes),
    )


def account_state(equity: str, positions: dict[str, str]) -> AccountState:
    return AccountState(
        wallet_balance=Decimal(10_000),
        equity=Decimal(equity),
        available_balance=Decimal(9_000),
        unrealized_pnl=Decimal(5),
        margin_used=Decimal(500),
        positions={
            symbol: PositionState(
                symbol, Decimal(amount), Decimal(65000), Decimal(65100), Decimal(5), 2
            )
            for symbol, amount in positions.items()
        },
    )


async def entry(
    journal: Journal,
    client_id: str,
    minutes: int,
    *,
    symbol: str = "BTCUSDT",
    stop: str = "61000",
    account: str = ACCOUNT,
    rationale: str = "breakout",
) -> uuid.UUID:
    """A decision with one leg and its entry order's intent; the leg's id."""
    _, (leg_id,) = await journal.decision(
        account,
        outcome(parsed_leg(symbol, rationale)),
        [parsed_leg(symbol, rationale)],
        [verdict(symbol, stop)],
        candle_time=None,
        at=at(minutes),
    )
    await journal.order_intent(account, leg_id, request(client_id, symbol), "entry", at(minutes))
    return leg_id


# -- events --------------------------------------------------------------------------------


async def test_events_are_appended_redacted_at_the_clock_time(subject: Subject) -> None:
    journal, bus = subject.journal, subject.bus
    decision_id, _ = await journal.decision(ACCOUNT, hold_all(), [], [], candle_time=None, at=at(0))
    payload = {"amount": Decimal("1.5"), "when": at(1), "side": Side.BUY, "note": SECRET}
    await journal.event(ACCOUNT, "order.sent", f"sent with {SECRET}", at=at(1), payload=payload)
    await journal.event(
        ACCOUNT, "risk.halt", "halted", at=at(2), severity="critical", decision_id=decision_id
    )
    await journal.event(None, "service", "no account", at=at(3))  # stored, never streamed

    events = await subject.read.events()
    assert [(e["account_id"], e["kind"], e["severity"]) for e in events] == [
        (ACCOUNT, "order.sent", "info"),
        (ACCOUNT, "risk.halt", "critical"),
        (None, "service", "info"),
    ]
    assert [e["occurred_at"] for e in events] == [at(1), at(2), at(3)]
    assert events[0]["message"] == f"sent with {REDACTED}"
    assert events[0]["payload"] == {
        "amount": "1.5",
        "when": at(1).isoformat(),
        "side": "BUY",
        "note": REDACTED,
    }
    assert events[1]["payload"] == {}
    assert [e["decision_id"] for e in events] == [None, decision_id, None]
    assert bus.events(f"account.{ACCOUNT}.events") == ["order.sent", "risk.halt"]
    # Streamed at the clock's time (a replay's), not when they happened to be published.
    assert bus.times_on(f"account.{ACCOUNT}.events") == [at(1), at(2)]
    assert bus.sent[-2][2]["message"] == f"sent with {REDACTED}"


async def test_an_event_of_an_unknown_decision_is_refused(subject: Subject) -> None:
    with pytest.raises(REFUSED):
        await subject.journal.event(ACCOUNT, "x", "y", at=T0, decision_id=uuid.uuid4())
    assert await subject.read.events() == []


async def test_a_naive_time_is_refused(subject: Subject) -> None:
    naive = datetime(2031, 1, 1)  # noqa: DTZ001 - a time without a zone is what is refused
    # The database's time columns refuse it (wrapped in SQLAlchemy's statement error).
    with pytest.raises((ValueError, StatementError)):
        await subject.journal.event(ACCOUNT, "x", "y", at=naive)


async def test_times_in_another_zone_are_kept_as_the_same_instant(subject: Subject) -> None:
    eastern = T0.astimezone(timezone(timedelta(hours=-5)))
    await subject.journal.event(ACCOUNT, "x", "y", at=eastern)
    (event,) = await subject.read.events()
    assert event["occurred_at"] == T0
    assert event["occurred_at"].utcoffset() == timedelta(0)


# -- decisions -----------------------------------------------------------------------------


async def test_a_decision_keeps_its_calls_and_legs_redacted(subject: Subject) -> None:
    journal, bus = subject.journal, subject.bus
    legs = [parsed_leg("BTCUSDT"), parsed_leg("ETHUSDT")]
    verdicts = [
        verdict("BTCUSDT"),
        LegVerdict(Proposal("ETHUSDT", Action.HOLD), LegStatus.HOLD),
        LegVerdict(Proposal("SOLUSDT", Action.HOLD), LegStatus.HOLD),  # no parsed leg
    ]
    decision_id, leg_ids = await journal.decision(
        ACCOUNT, outcome(*legs), legs, verdicts, candle_time=at(-60), at=at(5)
    )

    decisions = await subject.read.decisions()
    assert list(decisions) == [decision_id]
    stored = decisions[decision_id]
    assert stored["account_id"] == ACCOUNT
    assert stored["status"] == "decided"
    assert stored["summary"] == f"summary {REDACTED}"
    assert stored["parsed"] == {"notes": [f"note {REDACTED}"]}
    assert stored["validation_error"] == f"first reply had {REDACTED}"
    assert (stored["created_at"], stored["candle_time"]) == (at(5), at(-60))
    masked = (f"prompt with {REDACTED}", f"reply with {REDACTED}")
    assert stored["calls"] == [(*masked, f"error with {REDACTED}"), (*masked, None)]
    assert list(stored["legs"]) == leg_ids  # one per verdict, in order
    btc, eth, sol = (stored["legs"][i] for i in leg_ids)
    assert [btc["symbol"], eth["symbol"], sol["symbol"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert {leg["decision_id"] for leg in (btc, eth, sol)} == {decision_id}
    assert {leg["created_at"] for leg in (btc, eth, sol)} == {at(5)}
    assert (btc["action"], btc["status"]) == ("open_long", "adjusted")
    assert btc["requested"] == {
        "symbol": "BTCUSDT",
        "action": "open_long",
        "size_usd": "1000",
        "leverage": "2",
        "stop_loss": "60000",
        "take_profit": "70000",
        "confidence": 0.7,
        "rationale": f"breakout ({REDACTED})",
        "invalidation": "close_1h < 60000",
        "invalidation_text": "below 60k",
    }
    assert btc["approved"] == {
        "orders": [
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "quantity": "0.015",
                "reduce_only": False,
                "purpose": "entry",
            }
        ],
        "leverage": 2,
        "stop_loss": "61000",
        "take_profit": "70000",
        "notional_usd": "900",
    }
    assert btc["adjustments"] == [
        {
            "rule": "max_position",
            "field": "size_usd",
            "requested": "1000",
            "approved": "900",
            "reason": f"cap {REDACTED}",
        }
    ]
    assert (eth["approved"], eth["adjustments"], eth["status"]) == (None, [], "hold")
    assert "rationale" in eth["requested"]
    assert "rationale" not in sol["requested"]
    assert SECRET not in await subject.read.everything()

    channel = f"account.{ACCOUNT}.decisions"
    assert bus.events(channel) == [
        "decision.proposed",
        "decision.adjusted",
        "decision.proposed",
        "decision.proposed",
        "llm.cost",
    ]
    assert set(bus.times_on(channel)) == {at(5)}  # the decision's clock time
    cost = bus.sent[-1][2]
    assert cost["decision_id"] == str(decision_id)
    assert (cost["calls"], cost["prompt_tokens"], cost["cost_usd"]) == (2, 200, "0.0250")


async def test_a_hold_all_decision_without_calls(subject: Subject) -> None:
    decision_id, leg_ids = await subject.journal.decision(
        ACCOUNT, hold_all(), [], [], candle_time=None, at=at(1)
    )
    assert leg_ids == []
    stored = (await subject.read.decisions())[decision_id]
    assert (stored["status"], stored["summary"], stored["calls"]) == ("hold_all", None, [])
    assert stored["parsed"] == {"notes": []}
    assert subject.bus.sent == []  # no leg, no model asked: nothing to stream


async def test_a_decision_with_a_symbol_twice_is_refused_whole(subject: Subject) -> None:
    with pytest.raises(REFUSED):
        await subject.journal.decision(
            ACCOUNT,
            outcome(parsed_leg()),
            [parsed_leg()],
            [verdict(), verdict()],
            candle_time=None,
            at=T0,
        )
    assert await subject.read.decisions() == {}
    assert subject.bus.sent == []


async def test_decision_ids_are_fresh(subject: Subject) -> None:
    first = await subject.journal.decision(ACCOUNT, hold_all(), [], [], candle_time=None, at=T0)
    second = await subject.journal.decision(ACCOUNT, hold_all(), [], [], candle_time=None, at=T0)
    assert first[0] != second[0]
    assert set(await subject.read.decisions()) == {first[0], second[0]}


# -- orders --------------------------------------------------------------------------------


async def test_an_intent_is_written_once_per_client_id(subject: Subject) -> None:
    journal = subject.journal
    leg_id = await entry(journal, "c-1", 1)
    await journal.order_intent(ACCOUNT, None, request("c-1", quantity="9"), "close", at(2))
    await journal.order_intent(OTHER, None, request("c-1"), "entry", at(3))  # any account

    orders = await subject.read.orders()
    assert list(orders) == ["c-1"]
    order = orders["c-1"]
    assert (order["account_id"], order["leg_id"], order["purpose"]) == (ACCOUNT, leg_id, "entry")
    assert (order["status"], order["quantity"], order["filled_quantity"]) == (
        "intent",
        Decimal("0.015"),
        Decimal(0),
    )
    assert order["status_history"] == [{"status": "intent", "at": at(1).isoformat()}]
    assert (order["created_at"], order["updated_at"]) == (at(1), at(1))
    (intent,) = [s for s in subject.bus.sent if s[0] == f"account.{ACCOUNT}.orders"]
    assert intent[1] == "order.intent"
    assert intent[2]["client_order_id"] == "c-1"
    assert intent[2]["purpose"] == "entry"
    assert intent[2]["quantity"] == "0.015"


async def test_an_intent_without_a_quantity_is_kept_as_zero(subject: Subject) -> None:
    stop = OrderRequest(
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        "c-sl",
        stop_price=Decimal(61000),
        close_position=True,
    )
    await subject.journal.order_intent(ACCOUNT, None, stop, "stop_loss", T0)
    assert (await subject.read.orders())["c-sl"]["quantity"] == Decimal(0)


async def test_an_intent_of_an_unknown_leg_is_refused(subject: Subject) -> None:
    with pytest.raises(REFUSED):
        await subject.journal.order_intent(ACCOUNT, uuid.uuid4(), request("c-1"), "entry", T0)
    assert await subject.read.orders() == {}


async def test_an_update_of_an_unknown_client_id_is_ignored(subject: Subject) -> None:
    await subject.journal.order_update(
        exchange_order("nobody", OrderStatus.FILLED, "1", "2"), "nobody", T0, error="x"
    )
    assert await subject.read.orders() == {}
    assert subject.bus.sent == []


async def test_updates_append_history_only_when_the_status_changes(subject: Subject) -> None:
    journal, bus = subject.journal, subject.bus
    await journal.order_intent(ACCOUNT, None, request("c-1"), "entry", at(0))
    await journal.order_update(exchange_order("c-1", OrderStatus.NEW), "c-1", at(1))
    # Same status, more filled: the numbers are kept, no transition, nothing streamed.
    partial = exchange_order("c-1", OrderStatus.NEW, "0.005", "65000")
    await journal.order_update(partial, "c-1", at(2))
    after_partial = (await subject.read.orders())["c-1"]
    assert (after_partial["filled_quantity"], after_partial["average_price"]) == (
        Decimal("0.005"),
        Decimal(65000),
    )
    assert after_partial["updated_at"] == at(1)
    filled = exchange_order("c-1", OrderStatus.FILLED, "0.015", "65010.5")
    await journal.order_update(filled, "c-1", at(3))
    await journal.order_update(None, "c-1", at(4))  # nothing new: nothing changes

    order = (await subject.read.orders())["c-1"]
    assert order["status"] == "FILLED"
    assert order["status_history"] == [
        {"status": "intent", "at": at(0).isoformat()},
        {"status": "NEW", "at": at(1).isoformat()},
        {"status": "FILLED", "at": at(3).isoformat()},
    ]
    assert order["exchange_order_id"] == "424242"
    assert (order["filled_quantity"], order["average_price"]) == (
        Decimal("0.015"),
        Decimal("65010.5"),
    )
    assert (order["created_at"], order["updated_at"], order["error"]) == (at(0), at(3), None)
    assert bus.events(f"account.{ACCOUNT}.orders") == ["order.intent", "order.new", "order.filled"]
    assert bus.times_on(f"account.{ACCOUNT}.orders") == [at(0), at(1), at(3)]  # the clock's
    last = bus.sent[-1][2]
    assert (last["status"], last["client_order_id"], last["account_id"]) == (
        "FILLED",
        "c-1",
        ACCOUNT,
    )
    assert Decimal(last["filled_quantity"]) == Decimal("0.015")


async def test_an_explicit_status_wins_and_its_error_is_kept_redacted(subject: Subject) -> None:
    journal = subject.journal
    await journal.order_intent(ACCOUNT, None, request("c-1"), "entry", at(0))
    await journal.order_update(
        None, "c-1", at(1), status="not_sent", error=f"-2015 invalid key {SECRET}"
    )
    order = (await subject.read.orders())["c-1"]
    masked = f"-2015 invalid key {REDACTED}"
    assert (order["status"], order["error"]) == ("not_sent", masked)
    assert order["status_history"][-1] == {
        "status": "not_sent",
        "at": at(1).isoformat(),
        "reason": masked,
    }
    _, event, data = subject.bus.sent[-1]
    assert (event, data["status"], data["error"]) == ("order.not_sent", "not_sent", masked)
    # An error on an unchanged status is kept, without a transition.
    await journal.order_update(None, "c-1", at(2), error=f"again {SECRET}")
    order = (await subject.read.orders())["c-1"]
    assert order["error"] == f"again {REDACTED}"
    assert len(order["status_history"]) == 2
    assert SECRET not in await subject.read.everything()


async def test_a_zero_average_price_is_kept_as_none(subject: Subject) -> None:
    await subject.journal.order_intent(ACCOUNT, None, request("c-1"), "entry", at(0))
    await subject.journal.order_update(exchange_order("c-1", OrderStatus.NEW), "c-1", at(1))
    order = (await subject.read.orders())["c-1"]
    assert (order["average_price"], order["filled_quantity"]) == (None, Decimal(0))


# -- fills ---------------------------------------------------------------------------------


async def test_fills_are_kept_once_per_trade_and_linked_to_their_order(subject: Subject) -> None:
    journal, bus = subject.journal, subject.bus
    await journal.order_intent(ACCOUNT, None, request("c-1"), "entry", at(0))
    first, second = execution("t-1", "c-1", 1), execution("t-2", "c-1", 2)
    liquidation = execution("t-3", "autoclose-1", 3)  # no journaled order
    added = await journal.fills(ACCOUNT, [first, second, first, liquidation])
    assert added == [first, second, liquidation]
    assert await journal.fills(ACCOUNT, [second, execution("t-4", "c-1", 4)]) == [
        execution("t-4", "c-1", 4)
    ]
    other_symbol = execution("t-1", "c-1", 5, symbol="ETHUSDT")  # trade ids are per symbol
    other_account = execution("t-1", "c-1", 6)  # and per account
    assert await journal.fills(ACCOUNT, [other_symbol]) == [other_symbol]
    assert await journal.fills(OTHER, [other_account]) == [other_account]
    assert await journal.fills(ACCOUNT, []) == []

    fills = await subject.read.fills()
    assert {key: (f["order"], f["filled_at"]) for key, f in fills.items()} == {
        (ACCOUNT, "BTCUSDT", "t-1"): ("c-1", at(1)),
        (ACCOUNT, "BTCUSDT", "t-2"): ("c-1", at(2)),
        (ACCOUNT, "BTCUSDT", "t-3"): (None, at(3)),
        (ACCOUNT, "BTCUSDT", "t-4"): ("c-1", at(4)),
        (ACCOUNT, "ETHUSDT", "t-1"): ("c-1", at(5)),
        (OTHER, "BTCUSDT", "t-1"): ("c-1", at(6)),
    }
    assert len(bus.events(f"account.{ACCOUNT}.fills")) == 5
    assert len(bus.events(f"account.{OTHER}.fills")) == 1


async def test_last_fill_time_is_the_newest_fill_of_the_account(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.last_fill_time(ACCOUNT) is None
    await journal.fills(ACCOUNT, [execution("t-2", "c", 20), execution("t-1", "c", 10)])
    await journal.fills(ACCOUNT, [execution("t-0", "c", 5)])  # older, written later
    await journal.fills(OTHER, [execution("t-9", "c", 90)])
    assert await journal.last_fill_time(ACCOUNT) == at(20)
    assert await journal.last_fill_time(OTHER) == at(90)


# -- snapshots -----------------------------------------------------------------------------


async def test_snapshots_are_kept_once_per_time(subject: Subject) -> None:
    journal, bus = subject.journal, subject.bus
    await journal.snapshot(ACCOUNT, account_state("10005", {"BTCUSDT": "0.015"}), at(0))
    await journal.snapshot(ACCOUNT, account_state("99999", {"BTCUSDT": "-1"}), at(0))
    await journal.snapshot(ACCOUNT, account_state("10010", {"ETHUSDT": "-0.5"}), at(60))
    await journal.snapshot(OTHER, account_state("500", {}), at(0))

    assert await subject.read.equity() == {
        (ACCOUNT, at(0)): Decimal(10005),
        (ACCOUNT, at(60)): Decimal(10010),
        (OTHER, at(0)): Decimal(500),
    }
    assert await subject.read.positions() == {
        (ACCOUNT, "BTCUSDT", at(0)): ("long", Decimal("0.015")),
        (ACCOUNT, "ETHUSDT", at(60)): ("short", Decimal("0.5")),
    }
    # Streamed on every call (a repeated time is a repeated tick, as the database journal does).
    assert len(bus.events(f"account.{ACCOUNT}.equity")) == 3
    assert bus.events(f"account.{ACCOUNT}.positions") == [
        "position.opened",
        "position.changed",
        "position.opened",
        "position.closed",
    ]


# -- risk, paper and operator state --------------------------------------------------------


async def test_the_risk_state_round_trips_per_account(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.risk_state(ACCOUNT) is None
    stop_outs = {"BTCUSDT": at(-30)}
    state = RiskState(date(2031, 5, 4), Decimal("10000.5"), True, "daily loss", stop_outs)
    await journal.save_risk_state(ACCOUNT, state, at=at(1))
    stop_outs["ETHUSDT"] = at(0)  # the caller's dict changes later: the saved state does not
    assert await journal.risk_state(ACCOUNT) == replace(state, stop_outs={"BTCUSDT": at(-30)})
    assert await journal.risk_state(OTHER) is None
    assert await subject.read.risk_updated_at(ACCOUNT) == at(1)

    cleared = RiskState(date(2031, 5, 5), Decimal(9000))
    await journal.save_risk_state(ACCOUNT, cleared, at=at(2))
    assert await journal.risk_state(ACCOUNT) == cleared
    assert await subject.read.risk_updated_at(ACCOUNT) == at(2)


async def test_the_paper_state_round_trips_as_json(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.paper_state(ACCOUNT) is None
    state = {"balance": "10000", "positions": {"BTCUSDT": ["0.015", 65000]}, "seq": 3}
    await journal.save_paper_state(ACCOUNT, state)
    loaded = await journal.paper_state(ACCOUNT)
    assert loaded == state
    assert loaded is not None
    loaded["seq"] = 99  # the reader's copy is its own
    assert await journal.paper_state(ACCOUNT) == state
    await journal.save_paper_state(ACCOUNT, {"balance": "1", "pair": (1, 2)})
    assert await journal.paper_state(ACCOUNT) == {"balance": "1", "pair": [1, 2]}
    assert await journal.paper_state(OTHER) is None


async def test_the_operator_state_round_trips_redacted(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.control(ACCOUNT) is None
    await journal.save_control(ACCOUNT, "halted", f"kill switch: {SECRET}", at=at(1))
    assert await journal.control(ACCOUNT) == ("halted", f"kill switch: {REDACTED}")
    assert await subject.read.control_updated_at(ACCOUNT) == at(1)
    await journal.save_control(ACCOUNT, "running", None, at=at(2))
    assert await journal.control(ACCOUNT) == ("running", None)
    assert await subject.read.control_updated_at(ACCOUNT) == at(2)
    assert await journal.control(OTHER) is None
    assert SECRET not in await subject.read.everything()


# -- what recovery reads -------------------------------------------------------------------


async def test_entry_theses_come_from_the_newest_entry_that_filled(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.entry_theses(ACCOUNT, ["BTCUSDT"]) == {}
    await entry(journal, "old", 0, stop="60500", rationale="old")
    await journal.order_update(exchange_order("old", OrderStatus.FILLED, "0.015"), "old", at(1))
    await entry(journal, "unfilled", 10, stop="62000", rationale="unfilled")
    await journal.order_update(exchange_order("unfilled", OrderStatus.CANCELED), "unfilled", at(11))
    # Not entries, or without a leg: never a thesis, filled or not.
    await journal.order_intent(ACCOUNT, None, request("loose"), "entry", at(20))
    await journal.order_update(exchange_order("loose", OrderStatus.FILLED, "1"), "loose", at(21))
    await journal.order_intent(ACCOUNT, None, request("closing"), "close", at(22))
    await journal.order_update(
        exchange_order("closing", OrderStatus.FILLED, "1"), "closing", at(23)
    )
    await entry(journal, "theirs", 30, account=OTHER)
    await journal.order_update(exchange_order("theirs", OrderStatus.FILLED, "1"), "theirs", at(31))

    masked = f"old ({REDACTED})"
    assert await journal.entry_theses(ACCOUNT, ["BTCUSDT", "ETHUSDT"]) == {
        "BTCUSDT": SavedThesis("close_1h < 60000", masked, Decimal(60500), Decimal(70000), at(0))
    }
    # A newer entry that filled only partly before it was cancelled is the thesis now.
    await entry(journal, "partial", 40, stop="63000", rationale="partial")
    half = exchange_order("partial", OrderStatus.PARTIALLY_FILLED, "0.005")
    await journal.order_update(half, "partial", at(41))
    cancelled = exchange_order("partial", OrderStatus.CANCELED, "0.005")
    await journal.order_update(cancelled, "partial", at(42))
    await entry(journal, "eth", 50, symbol="ETHUSDT")
    await journal.order_update(exchange_order("eth", OrderStatus.FILLED, "1"), "eth", at(51))

    theses = await journal.entry_theses(ACCOUNT, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    assert theses["BTCUSDT"] == SavedThesis(
        "close_1h < 60000", f"partial ({REDACTED})", Decimal(63000), Decimal(70000), at(40)
    )
    assert theses["ETHUSDT"].opened_at == at(50)
    assert set(theses) == {"BTCUSDT", "ETHUSDT"}
    assert await journal.entry_theses(ACCOUNT, ["ETHUSDT"]) == {"ETHUSDT": theses["ETHUSDT"]}


async def test_pending_orders_are_those_still_open_oldest_first(subject: Subject) -> None:
    journal = subject.journal
    assert await journal.pending_orders(ACCOUNT) == []
    # Written out of time order: the journal orders them by when they were intended.
    for client_id, minutes in [("late", 30), ("early", 0), ("mid", 10), ("done", 5), ("x", 7)]:
        await journal.order_intent(ACCOUNT, None, request(client_id), "entry", at(minutes))
    await journal.order_intent(OTHER, None, request("theirs"), "close", at(1))
    await journal.order_update(exchange_order("mid", OrderStatus.PARTIALLY_FILLED), "mid", at(11))
    await journal.order_update(None, "late", at(31), status="unknown", error="timeout")
    await journal.order_update(exchange_order("done", OrderStatus.FILLED, "1"), "done", at(6))
    await journal.order_update(None, "x", at(8), status="not_sent", error="refused")

    assert await journal.pending_orders(ACCOUNT) == [
        PendingOrder("early", "BTCUSDT", "intent", "entry", at(0)),
        PendingOrder("mid", "BTCUSDT", "PARTIALLY_FILLED", "entry", at(10)),
        PendingOrder("late", "BTCUSDT", "unknown", "entry", at(30)),
    ]
    assert await journal.pending_orders(OTHER) == [
        PendingOrder("theirs", "BTCUSDT", "intent", "close", at(1))
    ]
    await journal.order_update(exchange_order("mid", OrderStatus.FILLED, "1"), "mid", at(12))
    await journal.order_update(exchange_order("late", OrderStatus.NEW), "late", at(32))
    assert [p.client_order_id for p in await journal.pending_orders(ACCOUNT)] == ["early", "late"]


# -- both alike, side by side --------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(\.\d+)?(E[+-]?\d+)?")


def _comparable(value: Any, ids: dict[str, str]) -> Any:
    """A stream payload with numbers as decimals (the database's re-read ones carry its 18
    places) and decision ids by order of appearance (each journal draws its own)."""
    if isinstance(value, dict):
        return {
            k: _comparable(v, ids) if k != "decision_id" else _id(v, ids) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_comparable(v, ids) for v in value]
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return Decimal(value)
    return value


def _id(value: str, ids: dict[str, str]) -> str:
    return ids.setdefault(value, f"decision-{len(ids)}")


async def _script(journal: Journal) -> None:
    """A bit of everything that streams, including re-reads of stored decimals."""
    await entry(journal, "c-1", 0)
    await journal.order_update(exchange_order("c-1", OrderStatus.NEW), "c-1", at(1))
    await journal.order_update(None, "c-1", at(2), status="unknown", error=f"timeout {SECRET}")
    half = exchange_order("c-1", OrderStatus.PARTIALLY_FILLED, "0.005", "65000.25")
    await journal.order_update(half, "c-1", at(3))
    await journal.fills(ACCOUNT, [execution("t-1", "c-1", 3), execution("t-1", "c-1", 3)])
    await journal.order_update(None, "c-1", at(4), status="CANCELED")
    await journal.snapshot(ACCOUNT, account_state("10001", {"BTCUSDT": "0.005"}), at(5))
    await journal.snapshot(ACCOUNT, account_state("10002", {}), at(6))
    await journal.event(ACCOUNT, "risk.halt", f"halt {SECRET}", at=at(7), payload={"x": 1})
    await journal.save_control(ACCOUNT, "paused", "operator", at=at(8))
    await journal.decision(ACCOUNT, hold_all(), [], [], candle_time=None, at=at(9))


@pytest.mark.postgres
async def test_both_journals_stream_the_same_events(
    sql_subject: Subject, memory_subject: Subject
) -> None:
    for subject in (sql_subject, memory_subject):
        await _script(subject.journal)
    sql: dict[str, str] = {}
    memory: dict[str, str] = {}
    assert [_comparable(list(s), sql) for s in sql_subject.bus.sent] == [
        _comparable(list(s), memory) for s in memory_subject.bus.sent
    ]
    assert len(sql_subject.bus.sent) > 10
    assert SECRET not in repr(memory_subject.bus.sent)
    assert SECRET not in repr(sql_subject.bus.sent)


# -- the memory journal under any interleaving ---------------------------------------------

_CLIENTS = ("a", "b", "c", "d")
_STATUSES = ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "unknown", "not_sent")
_Step = tuple[str, str, int, str]  # (kind, client id, minute, status or trade id)
_steps = st.one_of(
    st.tuples(st.just("intent"), st.sampled_from(_CLIENTS), st.integers(0, 50), st.just("")),
    st.tuples(
        st.just("update"),
        st.sampled_from((*_CLIENTS, "stranger")),
        st.integers(0, 50),
        st.sampled_from(_STATUSES),
    ),
    st.tuples(
        st.just("fill"),
        st.sampled_from((*_CLIENTS, "liquidation")),
        st.integers(0, 50),
        st.sampled_from(("t1", "t2", "t3", "t4", "t5")),
    ),
)


async def _replay(steps: list[_Step]) -> tuple[MemoryJournal, dict[str, tuple[str, int]]]:
    """Run the steps; what each order's status and intent minute must be by then."""
    journal = MemoryJournal(JournalPublisher(Recorder()))
    expected: dict[str, tuple[str, int]] = {}
    for kind, client_id, minute, detail in steps:
        if kind == "intent":
            await journal.order_intent(ACCOUNT, None, request(client_id), "entry", at(minute))
            expected.setdefault(client_id, ("intent", minute))
        elif kind == "update":
            await journal.order_update(None, client_id, at(minute), status=detail)
            if client_id in expected:
                expected[client_id] = (detail, expected[client_id][1])
        else:
            symbol = "ETHUSDT" if minute % 2 else "BTCUSDT"
            await journal.fills(ACCOUNT, [execution(detail, client_id, minute, symbol)])
    return journal, expected


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(_steps, max_size=60))
def test_memory_journal_keeps_fills_unique_and_pending_orders_current(
    steps: list[_Step],
) -> None:
    journal, expected = asyncio.run(_replay(steps))

    keys = [(f.account_id, f.symbol, f.trade_id) for f in journal.fill_records]
    assert len(keys) == len(set(keys))
    fed = {("ETHUSDT" if m % 2 else "BTCUSDT", t) for kind, _, m, t in steps if kind == "fill"}
    assert {(symbol, trade) for _, symbol, trade in keys} == fed
    for fill in journal.fill_records:  # linked when its order was journaled before it
        assert fill.order_client_id in (None, *expected)

    pending = asyncio.run(journal.pending_orders(ACCOUNT))
    still_open = {c for c, (status, _) in expected.items() if status in IN_FLIGHT + OPEN}
    assert {p.client_order_id for p in pending} == still_open
    assert len(pending) == len(still_open)
    assert [p.intent_at for p in pending] == sorted(p.intent_at for p in pending)
    for p in pending:
        assert (p.status, p.intent_at) == (
            expected[p.client_order_id][0],
            at(expected[p.client_order_id][1]),
        )
    for order in journal.orders:
        statuses = [entry["status"] for entry in order.status_history]
        assert statuses[-1] == order.status == expected[order.client_order_id][0]
        assert all(a != b for a, b in itertools.pairwise(statuses))
