"""The agent's journal: every step of a cycle written to the database, linked for audit.

Decision (with its LLM calls) -> legs (requested vs approved, every adjustment) -> orders
(intent written *before* sending, then each status) -> fills; plus events, equity and
position snapshots, the risk state and the paper exchange's state. Each method is one short
unit of work: no session stays open across an exchange or LLM call. Its orders and fills are
written by :class:`~app.records.sql_orders.SqlOrderBook`.

Text that came from outside (error messages of the exchange or OpenRouter, a model's reply,
notes, an operator's reason) is redacted (:mod:`app.core.secrets`) before it is written or
streamed: an upstream error that repeats the key it was sent must not be stored or served.
"""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.agent.models import AgentControl, AgentEvent
from app.agent.ports import PendingOrder, SavedThesis
from app.core.secrets import redact, redact_json, redact_optional
from app.db.session import SessionFactory, session_scope
from app.db.upsert import insert_ignore
from app.exchange.ports import AccountState, Execution
from app.exchange.types import ExchangeOrder, OrderRequest
from app.llm.models import LlmCall
from app.llm.parsing import ParsedLeg
from app.llm.ports import DecisionOutcome
from app.llm.repository import save_calls
from app.records.journal_reads import JournalReads
from app.records.journal_rows import leg_row, llm_cost, redacted_calls, to_json
from app.records.publishing import JournalPublisher
from app.records.sql_orders import SqlOrderBook
from app.trading.domain import LegVerdict, RiskState
from app.trading.models import (
    Decision,
    DecisionLeg,
    EquitySnapshot,
    Order,
    PaperAccountRow,
    PositionSnapshot,
)
from app.trading.repository import load_risk_state, save_risk_state
from app.trading.runs import ACCOUNT_RUN


class SqlJournal(JournalReads):
    """The journal in the database (:class:`app.agent.ports.Journal`) of one run.

    Every row it writes carries its run id and every read filters on it, so a backtest's
    journal (``run_id="backtest-…"``) and an account's (:data:`~app.trading.runs.ACCOUNT_RUN`)
    never see each other's records, even for the same account id.

    Args:
        sessions: Where to write.
        publisher: Streams what was written to the account's live channels; None for runs
            that are not the account's own trading.
        run_id: The run every record belongs to (:mod:`app.trading.runs`).
    """

    def __init__(
        self,
        sessions: SessionFactory,
        publisher: JournalPublisher | None = None,
        *,
        run_id: str = ACCOUNT_RUN,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._risk: dict[str, RiskState | None] = {}
        self._run_id = run_id
        self._orders = SqlOrderBook(sessions, publisher, run_id)

    @property
    def run_id(self) -> str:
        """The run this journal writes and reads."""
        return self._run_id

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
        message = redact(message)
        data = redact_json(to_json(payload or {}))
        async with session_scope(self._sessions) as session:
            event = AgentEvent(
                run_id=self._run_id,
                account_id=account_id,
                type=kind,
                severity=severity,
                message=message,
                payload=data,
                decision_id=decision_id,
                occurred_at=at,
            )
            session.add(event)
        if self._publisher is not None:
            self._publisher.event(account_id, kind, message, severity, data, at=at)

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
        """Store a decision with its LLM calls and one leg per verdict."""
        async with session_scope(self._sessions) as session:
            call_ids = await save_calls(
                session, account_id, redacted_calls(outcome.calls), run_id=self._run_id
            )
            decision = Decision(
                run_id=self._run_id,
                account_id=account_id,
                created_at=at,
                llm_call_id=call_ids[-1] if call_ids else None,
                provider=outcome.provider,
                model=outcome.model,
                prompt_version=outcome.prompt_version,
                candle_time=candle_time,
                status="decided" if outcome.decision is not None else "hold_all",
                summary=redact(outcome.decision.summary) if outcome.decision else None,
                parsed={"notes": redact_json(list(outcome.notes))},
                validation_error=redact_optional(outcome.validation_error),
            )
            session.add(decision)
            await session.flush()
            for call_id in call_ids:  # every call of the cycle, not only the deciding one
                call = await session.get(LlmCall, call_id)
                if call is not None:
                    call.decision_id = decision.id
            by_symbol = {leg.proposal.symbol: leg for leg in legs}
            rows = [
                leg_row(decision.id, verdict, by_symbol.get(verdict.proposal.symbol), at)
                for verdict in verdicts
            ]
            session.add_all(rows)
            await session.flush()
            ids = decision.id, [row.id for row in rows]
        if self._publisher is not None:
            self._publisher.decision(account_id, str(ids[0]), verdicts, llm_cost(outcome), at=at)
        return ids

    async def order_intent(
        self,
        account_id: str,
        leg_id: uuid.UUID | None,
        request: OrderRequest,
        purpose: str,
        at: datetime,
    ) -> None:
        """Write the order *before* it is sent (status ``intent``); idempotent on client id.

        Client ids are unique across runs (the column is), so the lookup needs no run.
        """
        await self._orders.order_intent(account_id, leg_id, request, purpose, at)

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
        await self._orders.order_update(order, client_order_id, at, status=status, error=error)

    async def pending_orders(self, account_id: str) -> list[PendingOrder]:
        """Orders journaled as intent/unknown (maybe sent) or open, oldest first.

        Read from the database once, then kept in step with this journal's own writes (the
        account's loop is the only writer of its orders): no read at every cycle.
        """
        return await self._orders.pending_orders(account_id)

    async def fills(self, account_id: str, executions: Sequence[Execution]) -> list[Execution]:
        """Store fills (idempotent on the exchange trade id); returns the new ones.

        Two queries for the whole batch (known trades, then the orders' row ids).
        """
        return await self._orders.fills(account_id, executions)

    async def snapshot(self, account_id: str, state: AccountState, at: datetime) -> None:
        """Equity and every position at ``at`` (idempotent per time)."""
        equity = {
            "run_id": self._run_id,
            "account_id": account_id,
            "taken_at": at,
            "equity": state.equity,
            "wallet_balance": state.wallet_balance,
            "available_balance": state.available_balance,
            "unrealized_pnl": state.unrealized_pnl,
            "margin_used": state.margin_used,
        }
        positions = [
            {
                "run_id": self._run_id,
                "account_id": account_id,
                "symbol": position.symbol,
                "taken_at": at,
                "side": "long" if position.amount > 0 else "short",
                "quantity": abs(position.amount),
                "entry_price": position.entry_price,
                "mark_price": position.mark_price,
                "unrealized_pnl": position.unrealized_pnl,
                "leverage": Decimal(position.leverage),
            }
            for position in state.positions.values()
        ]
        # One statement per table, no look-up first: a snapshot already taken at ``at`` stays.
        async with session_scope(self._sessions) as session:
            await insert_ignore(session, EquitySnapshot, [equity])
            await insert_ignore(session, PositionSnapshot, positions)
        if self._publisher is not None:
            self._publisher.snapshot(account_id, state, at)

    async def risk_state(self, account_id: str) -> RiskState | None:
        """The persisted risk state.

        Read from the database once, then kept: the account's loop (the only writer of its
        risk state, one instance per account under the account lock) writes through this
        journal, so every cycle need not read it back.
        """
        if account_id not in self._risk:
            async with session_scope(self._sessions) as session:
                loaded = await load_risk_state(session, account_id, run_id=self._run_id)
            self._risk[account_id] = _copied(loaded)
        return _copied(self._risk[account_id])

    async def save_risk_state(self, account_id: str, state: RiskState, *, at: datetime) -> None:
        """Persist the risk state as of ``at``."""
        async with session_scope(self._sessions) as session:
            await save_risk_state(session, account_id, state, at, run_id=self._run_id)
        self._risk[account_id] = _copied(state)  # only once it is stored

    async def paper_state(self, account_id: str) -> dict[str, Any] | None:
        """The paper exchange's saved state."""
        async with session_scope(self._sessions) as session:
            row = await session.get(PaperAccountRow, (self._run_id, account_id))
            return dict(row.state) if row is not None else None

    async def save_paper_state(self, account_id: str, state: dict[str, Any]) -> None:
        """Persist the paper exchange's state."""
        async with session_scope(self._sessions) as session:
            row = await session.get(PaperAccountRow, (self._run_id, account_id))
            if row is None:
                session.add(
                    PaperAccountRow(run_id=self._run_id, account_id=account_id, state=state)
                )
            else:
                row.state = state

    async def control(self, account_id: str) -> tuple[str, str | None] | None:
        """The persisted operator state (state, reason) of the account's agent."""
        async with session_scope(self._sessions) as session:
            row = await session.get(AgentControl, (self._run_id, account_id))
            return (row.state, row.reason) if row is not None else None

    async def save_control(
        self, account_id: str, state: str, reason: str | None, *, at: datetime
    ) -> None:
        """Persist the operator state of the account's agent."""
        reason = redact_optional(reason)
        async with session_scope(self._sessions) as session:
            row = await session.get(AgentControl, (self._run_id, account_id))
            if row is None:
                row = AgentControl(
                    run_id=self._run_id, account_id=account_id, state=state, reason=reason
                )
                session.add(row)
            row.state, row.reason, row.updated_at = state, reason, at

    async def entry_theses(self, account_id: str, symbols: Sequence[str]) -> dict[str, SavedThesis]:
        """Per symbol, the newest entry that filled at all: the thesis its position rests on.

        A partial fill counts (a LIMIT entry cancelled half-filled still opened the position).
        """
        found: dict[str, SavedThesis] = {}
        async with session_scope(self._sessions) as session:
            for symbol in symbols:
                row = (
                    await session.execute(
                        select(Order, DecisionLeg)
                        .join(DecisionLeg, Order.decision_leg_id == DecisionLeg.id)
                        .where(
                            Order.run_id == self._run_id,
                            Order.account_id == account_id,
                            Order.symbol == symbol,
                            Order.purpose == "entry",
                            Order.filled_quantity > Decimal(0),
                        )
                        .order_by(Order.created_at.desc())
                        .limit(1)
                    )
                ).first()
                if row is None:
                    continue
                order, leg = row
                approved = leg.approved or {}
                stop, target = approved.get("stop_loss"), approved.get("take_profit")
                found[symbol] = SavedThesis(
                    leg.requested.get("invalidation"),
                    leg.requested.get("rationale", ""),
                    Decimal(stop) if stop else None,
                    Decimal(target) if target else None,
                    order.created_at,
                )
        return found


def _copied(state: RiskState | None) -> RiskState | None:
    """A copy no caller can change behind the cache's back (``stop_outs`` is a dict)."""
    return None if state is None else replace(state, stop_outs=dict(state.stop_outs))
