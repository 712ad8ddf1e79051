"""What the journal streams to dashboards: typed events on per-account channels.

The journal calls a :class:`JournalPublisher` after each write has committed, so a client
never sees an event the database does not hold. Channels and events (docs/websocket.md):

- ``account.{id}.decisions``: ``decision.proposed`` per leg, then ``decision.approved`` /
  ``decision.adjusted`` / ``decision.rejected`` (with the rules that fired), ``llm.cost``;
- ``account.{id}.orders``: ``order.<status>`` (``order.intent``, ``order.new``,
  ``order.filled``, ``order.not_sent`` ...);
- ``account.{id}.fills``: ``fill``;
- ``account.{id}.positions``: ``position.opened`` / ``position.changed`` / ``position.closed``;
- ``account.{id}.equity``: ``equity.tick``;
- ``account.{id}.events``: every agent event under its own type (``protection.armed``,
  ``protection.missing``, ``risk.halt``, ``recovery`` ...).
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from app.core.secrets import redact_json
from app.exchange.ports import AccountState, Execution
from app.trading.domain import LegStatus, LegVerdict

logger = logging.getLogger(__name__)
_VERDICT_EVENTS = {
    LegStatus.APPROVED: "decision.approved",
    LegStatus.ADJUSTED: "decision.adjusted",
    LegStatus.REJECTED: "decision.rejected",
}


class Publish(Protocol):
    """Where events go (the event bus of :mod:`app.streaming`)."""

    def publish(
        self,
        channel: str,
        event: str,
        data: Mapping[str, Any],
        *,
        at: datetime | None = None,
    ) -> object:
        """Publish one event; never blocks, never raises for a slow reader."""
        ...


class _Safe:
    """Streaming must never break the journal: a refused event is logged, not raised.

    Every event's data is redacted (:mod:`app.core.secrets`) on its way out: the journal
    redacts what it writes, and this second line catches text that reaches the stream
    without being written (a risk verdict's reasons, an order's payload).

    ``on_change`` hears the account of every event (read caches drop that account's answers).
    """

    def __init__(self, bus: Publish, on_change: Callable[[str], None] | None) -> None:
        self._bus = bus
        self._on_change = on_change

    def publish(
        self, channel: str, event: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        if self._on_change is not None and channel.startswith("account."):
            self._on_change(channel.split(".")[1])
        try:
            self._bus.publish(channel, event, redact_json(data), at=at)
        except Exception:  # a bug in an event's shape must not stop trading
            logger.exception("could not stream %s on %s", event, channel)


class JournalPublisher:
    """Turns journal writes into stream events."""

    def __init__(self, bus: Publish, *, on_change: Callable[[str], None] | None = None) -> None:
        self._bus = _Safe(bus, on_change)
        # The last published position amounts per account, to tell opened/changed/closed.
        self._positions: dict[str, dict[str, Decimal]] = {}

    def decision(
        self,
        account_id: str,
        decision_id: str,
        verdicts: Sequence[LegVerdict],
        cost: Mapping[str, Any] | None,
        *,
        at: datetime | None = None,
    ) -> None:
        """A decision was stored: each leg as proposed, then the risk engine's verdict.

        ``at`` is the decision's time on the account's clock (a replay's, a backtest's): the
        events carry it rather than the moment they were published.
        """
        channel = f"account.{account_id}.decisions"
        for verdict in verdicts:
            proposal = verdict.proposal
            base = {"decision_id": decision_id, "symbol": proposal.symbol}
            self._bus.publish(
                channel,
                "decision.proposed",
                {
                    **base,
                    "action": proposal.action.value,
                    "size_usd": proposal.size_usd,
                    "leverage": proposal.leverage,
                    "stop_loss": proposal.stop_loss,
                    "take_profit": proposal.take_profit,
                },
                at=at,
            )
            kind = _VERDICT_EVENTS.get(verdict.status)
            if kind is None:
                continue
            self._bus.publish(
                channel,
                kind,
                {
                    **base,
                    "status": verdict.status.value,
                    "notional_usd": verdict.notional_usd,
                    "leverage": verdict.leverage,
                    "stop_loss": verdict.stop_loss,
                    "take_profit": verdict.take_profit,
                    "rejection": verdict.rejection,
                    "rules": [a.rule for a in verdict.adjustments],
                    "adjustments": [
                        {"rule": a.rule, "field": a.field, "reason": a.reason}
                        for a in verdict.adjustments
                    ],
                },
                at=at,
            )
        if cost is not None:
            self._bus.publish(channel, "llm.cost", {"decision_id": decision_id, **cost}, at=at)

    def order(
        self, account_id: str, status: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        """An order was journaled or changed status, at ``at`` on the account's clock."""
        self._bus.publish(f"account.{account_id}.orders", f"order.{status.lower()}", data, at=at)

    def fills(self, account_id: str, executions: Sequence[Execution]) -> None:
        """New fills were stored."""
        for e in executions:
            self._bus.publish(
                f"account.{account_id}.fills",
                "fill",
                {
                    "symbol": e.symbol,
                    "client_order_id": e.client_order_id,
                    "trade_id": e.trade_id,
                    "side": e.side,
                    "price": e.price,
                    "quantity": e.quantity,
                    "fee": e.fee,
                    "realized_pnl": e.realized_pnl,
                    "time": e.time,
                },
                at=e.time,
            )

    def snapshot(self, account_id: str, state: AccountState, at: datetime) -> None:
        """Equity every cycle; positions when they opened, changed or closed."""
        self._bus.publish(
            f"account.{account_id}.equity",
            "equity.tick",
            {
                "equity": state.equity,
                "wallet_balance": state.wallet_balance,
                "available_balance": state.available_balance,
                "unrealized_pnl": state.unrealized_pnl,
                "margin_used": state.margin_used,
                "taken_at": at,
            },
            at=at,
        )
        channel = f"account.{account_id}.positions"
        before = self._positions.get(account_id, {})
        now = {symbol: p.amount for symbol, p in state.positions.items()}
        for symbol, position in state.positions.items():
            if before.get(symbol) == position.amount:
                continue
            kind = "position.opened" if symbol not in before else "position.changed"
            self._bus.publish(
                channel,
                kind,
                {
                    "symbol": symbol,
                    "side": "long" if position.amount > 0 else "short",
                    "quantity": abs(position.amount),
                    "entry_price": position.entry_price,
                    "mark_price": position.mark_price,
                    "unrealized_pnl": position.unrealized_pnl,
                    "leverage": position.leverage,
                },
                at=at,
            )
        for symbol in before.keys() - now.keys():
            self._bus.publish(channel, "position.closed", {"symbol": symbol}, at=at)
        self._positions[account_id] = now

    def event(
        self,
        account_id: str | None,
        kind: str,
        message: str,
        severity: str,
        payload: Any,
        *,
        at: datetime | None = None,
    ) -> None:
        """An agent event (alerts, skips, recovery, kill switches), at its clock time."""
        if account_id is None:
            return
        self._bus.publish(
            f"account.{account_id}.events",
            kind,
            {"message": message, "severity": severity, "payload": payload},
            at=at,
        )
