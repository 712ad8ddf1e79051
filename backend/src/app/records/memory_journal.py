"""The journal in memory (:class:`app.agent.ports.Journal`): for backtests and fast tests.

It keeps what :class:`~app.records.sql_journal.SqlJournal` writes, in the same shapes (a leg's
``requested`` / ``approved`` / ``adjustments`` documents, an order's ``status_history``),
redacted the same way (:mod:`app.core.secrets`: no secret is ever held unredacted), and calls
the same :class:`~app.records.publishing.JournalPublisher` events, so a backtest can stream its
progress. ``tests/contract/test_journal_port.py`` holds both implementations to one contract.

Every write is a few dictionary operations (orders by client id, trades by symbol and trade
id, snapshots by time): a backtest writes tens of thousands of records. Orders and fills are
kept by :class:`~app.records.memory_orders.MemoryOrderBook`.

Reading back, besides the port: :attr:`~MemoryJournal.events`,
:attr:`~MemoryJournal.decisions` (each with its LLM calls and legs), :attr:`~MemoryJournal.orders`,
:attr:`~MemoryJournal.fill_records`, :attr:`~MemoryJournal.equity` and
:attr:`~MemoryJournal.positions` are tuples of frozen records in the order they were written (a
copy of the sequence, taken when read); :meth:`~MemoryJournal.order` looks one order up;
:attr:`~MemoryJournal.controls` and :attr:`~MemoryJournal.risk_states` are read-only mappings per
account. The JSON documents inside the records are the journal's own: read them, never change
them.

Where it differs from the database (documented in the contract suite too):

- decimals are kept as given; the database keeps 18 places, so its stream payloads of a
  re-read order show ``"1.000000000000000000"`` where this journal shows ``"1"``;
- times are kept as given, converted to UTC (a naive time is refused, as the database does);
- there is no accounts table: any account id is accepted; a reference the database would
  refuse (an unknown leg or decision id, one symbol twice in a decision) raises
  :class:`JournalIntegrityError`, and nothing of that write is kept;
- of two entries created at the same instant, :meth:`~MemoryJournal.entry_theses` takes the
  one written last (the database's order between them is unspecified).
"""

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from app.agent.ports import PendingOrder, SavedThesis
from app.core.secrets import redact, redact_json, redact_optional
from app.exchange.ports import AccountState, Execution
from app.exchange.types import ExchangeOrder, OrderRequest
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome
from app.records.journal_rows import leg_fields, llm_cost, redacted_calls, to_json
from app.records.memory_orders import MemoryOrderBook
from app.records.memory_records import (
    EquityPoint,
    JournalDecision,
    JournalEvent,
    JournalFill,
    JournalIntegrityError,
    JournalLeg,
    JournalOrder,
    PositionPoint,
    SavedControl,
    SavedRisk,
    _copy_risk,
    _utc,
)
from app.records.publishing import JournalPublisher
from app.trading.domain import LegVerdict, RiskState


def _fresh_ids(count: int) -> list[uuid.UUID]:
    """``count`` random UUIDs, as :func:`uuid.uuid4` makes them, from one read of randomness.

    A decision takes one id and one per leg, every cycle of a backtest: one call to the
    system's randomness for them all instead of one each.
    """
    randomness = os.urandom(16 * count)
    return [
        uuid.UUID(bytes=randomness[start : start + 16], version=4)
        for start in range(0, 16 * count, 16)
    ]


@dataclass(frozen=True, slots=True)
class JournalTotals:
    """Running totals of a memory journal (all accounts).

    Attributes:
        decisions: Decisions stored.
        fills: Fills stored.
        llm_cost_usd: What every stored LLM call cost.
        equity: The latest equity snapshot written, or None.
    """

    decisions: int
    fills: int
    llm_cost_usd: Decimal
    equity: EquityPoint | None


class MemoryJournal:
    """The journal in memory (:class:`app.agent.ports.Journal`): backtests and fast tests.

    Args:
        publisher: Streams every write, exactly as the SQL journal does (optional).
    """

    def __init__(self, publisher: JournalPublisher | None = None) -> None:
        self._publisher = publisher
        self._events: list[JournalEvent] = []
        self._decisions: dict[uuid.UUID, JournalDecision] = {}
        self._legs: dict[uuid.UUID, JournalLeg] = {}
        self._book = MemoryOrderBook(publisher, self._legs.__contains__)
        self._equity: dict[tuple[str, datetime], EquityPoint] = {}
        self._positions: dict[tuple[str, str, datetime], PositionPoint] = {}
        self._risk: dict[str, SavedRisk] = {}
        self._paper: dict[str, str] = {}  # as JSON text: what is read back is a fresh copy
        self._controls: dict[str, SavedControl] = {}
        # Running totals: a backtest's progress and its daily LLM budget read them at every
        # cycle, and a year of cycles must not re-add a year of calls each time.
        self._spend: dict[tuple[str, date], Decimal] = {}
        self._cost = Decimal(0)
        self._last_equity: EquityPoint | None = None

    # -- reading back (tests, reports) -------------------------------------------------------

    @property
    def events(self) -> tuple[JournalEvent, ...]:
        """Every event, in the order written."""
        return tuple(self._events)

    @property
    def decisions(self) -> tuple[JournalDecision, ...]:
        """Every decision with its calls and legs, in the order written."""
        return tuple(self._decisions.values())

    @property
    def orders(self) -> tuple[JournalOrder, ...]:
        """Every order as it stands now, in the order their intents were written."""
        return self._book.orders

    def order(self, client_order_id: str) -> JournalOrder | None:
        """The order journaled under ``client_order_id``, as it stands now."""
        return self._book.order(client_order_id)

    @property
    def fill_records(self) -> tuple[JournalFill, ...]:
        """Every fill, in the order written (``fills`` is the port's write)."""
        return self._book.fill_records

    @property
    def equity(self) -> tuple[EquityPoint, ...]:
        """Every equity snapshot, in the order written."""
        return tuple(self._equity.values())

    @property
    def positions(self) -> tuple[PositionPoint, ...]:
        """Every position snapshot, in the order written."""
        return tuple(self._positions.values())

    async def spent(self, account_id: str, day: date) -> Decimal:
        """Total cost in USD of the account's LLM calls on a UTC day (a spend ledger).

        By the calls' own times, as the SQL ledger counts them, so a backtest's daily LLM
        budget rolls on its simulated days.
        """
        return self._spend.get((account_id, day), Decimal(0))

    def totals(self) -> JournalTotals:
        """Decisions, fills, LLM cost and the latest equity so far, without a scan."""
        return JournalTotals(
            len(self._decisions), self._book.fill_count(), self._cost, self._last_equity
        )

    @property
    def risk_states(self) -> Mapping[str, SavedRisk]:
        """The risk state per account (a read-only view)."""
        return MappingProxyType(self._risk)

    @property
    def controls(self) -> Mapping[str, SavedControl]:
        """The operator state per account (a read-only view)."""
        return MappingProxyType(self._controls)

    # -- the port ----------------------------------------------------------------------------

    async def event(
        self,
        account_id: str | None,
        kind: str,
        message: str,
        *,
        at: datetime,
        severity: str = "info",
        payload: dict[str, Any] | None = None,
        decision_id: uuid.UUID | None = None,
    ) -> None:
        """Append one agent event."""
        if decision_id is not None and decision_id not in self._decisions:
            raise JournalIntegrityError(f"event of unknown decision {decision_id}")
        message = redact(message)
        data = redact_json(to_json(payload or {}))
        self._events.append(
            JournalEvent(account_id, kind, severity, message, data, decision_id, _utc(at))
        )
        if self._publisher is not None:
            self._publisher.event(account_id, kind, message, severity, data, at=_utc(at))

    async def decision(
        self,
        account_id: str,
        outcome: DecisionOutcome,
        legs: Sequence[ParsedLeg],
        verdicts: Sequence[LegVerdict],
        *,
        candle_time: datetime | None,
        at: datetime,
    ) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """Store a decision with its LLM calls and one leg per verdict; their ids."""
        symbols = [verdict.proposal.symbol for verdict in verdicts]
        if len(set(symbols)) != len(symbols):  # the database's one leg per symbol
            raise JournalIntegrityError(f"a decision with a symbol twice: {symbols}")
        created = _utc(at)
        decision_id, *leg_ids = _fresh_ids(1 + len(verdicts))
        by_symbol = {leg.proposal.symbol: leg for leg in legs}
        rows = []
        for verdict, leg_id in zip(verdicts, leg_ids, strict=True):
            # The SQL row builder, so both journals shape (and redact) a leg alike.
            row = leg_fields(verdict, by_symbol.get(verdict.proposal.symbol))
            rows.append(
                JournalLeg(
                    leg_id,
                    decision_id,
                    row["symbol"],
                    row["action"],
                    row["requested"],
                    row["approved"],
                    row["adjustments"],
                    row["status"],
                    created,
                )
            )
        decision = JournalDecision(
            id=decision_id,
            account_id=account_id,
            created_at=created,
            provider=outcome.provider,
            model=outcome.model,
            prompt_version=outcome.prompt_version,
            candle_time=_utc(candle_time) if candle_time is not None else None,
            status="decided" if outcome.decision is not None else "hold_all",
            summary=redact(outcome.decision.summary) if outcome.decision else None,
            parsed={"notes": redact_json(list(outcome.notes))},
            validation_error=redact_optional(outcome.validation_error),
            calls=tuple(redacted_calls(outcome.calls)),
            legs=tuple(rows),
        )
        self._decisions[decision_id] = decision
        for call in decision.calls:
            if call.cost_usd is not None:
                key = (account_id, call.started_at.astimezone(UTC).date())
                self._spend[key] = self._spend.get(key, Decimal(0)) + call.cost_usd
                self._cost += call.cost_usd
        self._legs.update((leg.id, leg) for leg in rows)
        ids = decision_id, [leg.id for leg in rows]
        if self._publisher is not None:
            self._publisher.decision(
                account_id, str(ids[0]), verdicts, llm_cost(outcome), at=created
            )
        return ids

    async def snapshot(self, account_id: str, state: AccountState, at: datetime) -> None:
        """Equity and every position at ``at`` (idempotent per time)."""
        taken = _utc(at)
        self._last_equity = self._equity.setdefault(
            (account_id, taken),
            EquityPoint(
                account_id,
                taken,
                state.equity,
                state.wallet_balance,
                state.available_balance,
                state.unrealized_pnl,
                state.margin_used,
            ),
        )
        for position in state.positions.values():
            key = (account_id, position.symbol, taken)
            if key in self._positions:
                continue
            self._positions[key] = PositionPoint(
                account_id,
                position.symbol,
                taken,
                "long" if position.amount > 0 else "short",
                abs(position.amount),
                position.entry_price,
                position.mark_price,
                position.unrealized_pnl,
                Decimal(position.leverage),
            )
        if self._publisher is not None:
            self._publisher.snapshot(account_id, state, at)

    async def risk_state(self, account_id: str) -> RiskState | None:
        """The persisted risk state."""
        saved = self._risk.get(account_id)
        return _copy_risk(saved.state) if saved is not None else None

    async def save_risk_state(self, account_id: str, state: RiskState, *, at: datetime) -> None:
        """Persist the risk state as of ``at``."""
        self._risk[account_id] = SavedRisk(_copy_risk(state), _utc(at))

    async def paper_state(self, account_id: str) -> dict[str, Any] | None:
        """The paper exchange's saved state."""
        saved = self._paper.get(account_id)
        state: dict[str, Any] | None = json.loads(saved) if saved is not None else None
        return state

    async def save_paper_state(self, account_id: str, state: dict[str, Any]) -> None:
        """Persist the paper exchange's state."""
        # As JSON text, as the database's JSON column holds it: a value it could not store
        # (a Decimal, a datetime) is refused here too, and tuples come back as lists.
        self._paper[account_id] = json.dumps(state)

    async def control(self, account_id: str) -> tuple[str, str | None] | None:
        """The persisted operator state (state, reason) of the account's agent."""
        saved = self._controls.get(account_id)
        return (saved.state, saved.reason) if saved is not None else None

    async def save_control(
        self, account_id: str, state: str, reason: str | None, *, at: datetime
    ) -> None:
        """Persist the operator state of the account's agent."""
        self._controls[account_id] = SavedControl(state, redact_optional(reason), _utc(at))

    async def entry_theses(self, account_id: str, symbols: Sequence[str]) -> dict[str, SavedThesis]:
        """Per symbol, the newest entry that filled at all: the thesis its position rests on.

        A partial fill counts (a LIMIT entry cancelled half-filled still opened the position).
        """
        found: dict[str, SavedThesis] = {}
        for symbol in symbols:
            newest: JournalOrder | None = None
            for order in self._book.entries(account_id, symbol):
                if order.filled_quantity > 0 and (
                    newest is None or order.created_at >= newest.created_at
                ):
                    newest = order
            if newest is None or newest.leg_id is None:
                continue
            leg = self._legs[newest.leg_id]
            approved = leg.approved or {}
            stop, target = approved.get("stop_loss"), approved.get("take_profit")
            found[symbol] = SavedThesis(
                leg.requested.get("invalidation"),
                leg.requested.get("rationale", ""),
                Decimal(stop) if stop else None,
                Decimal(target) if target else None,
                newest.created_at,
            )
        return found

    # -- orders and fills (kept by the order book) --------------------------------------------

    async def order_intent(
        self,
        account_id: str,
        leg_id: uuid.UUID | None,
        request: OrderRequest,
        purpose: str,
        at: datetime,
    ) -> None:
        """Write the order *before* it is sent (status ``intent``); idempotent on client id."""
        await self._book.order_intent(account_id, leg_id, request, purpose, at)

    async def order_update(
        self,
        order: ExchangeOrder | None,
        client_order_id: str,
        at: datetime,
        *,
        status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what the exchange says about an order (or why it was not placed)."""
        await self._book.order_update(order, client_order_id, at, status=status, error=error)

    async def fills(self, account_id: str, executions: Sequence[Execution]) -> list[Execution]:
        """Store fills (idempotent on the exchange trade id); returns the new ones."""
        return await self._book.fills(account_id, executions)

    async def pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first."""
        return await self._book.pending_orders(account_id)

    async def last_fill_time(self, account_id: str) -> datetime | None:
        """When the account's newest journaled fill happened."""
        return await self._book.last_fill_time(account_id)
