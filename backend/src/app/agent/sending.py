"""Sending one order: journal the intent, send, journal the result, whatever fails.

Only an entry's intent must reach the journal before it is sent; every later write
(statuses, protection intents, events) goes through the
:class:`~app.agent.failures.JournalBacklog` and waits out a database outage. Rate limits are
waited out (bounded) for every order but entries: an entry refused for a rate limit is
simply not sent, its decision is stale by then.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from app.agent.failures import JournalBacklog
from app.agent.ports import Journal
from app.core.clock import Clock
from app.exchange.errors import ExchangeError, OrderRejected, RateLimited
from app.exchange.ports import Exchange
from app.exchange.types import ExchangeOrder, OrderRequest, OrderStatus

logger = logging.getLogger(__name__)


_OVER = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


class Sent(Enum):
    """What became of one order sent to the exchange."""

    PLACED = "placed"
    """The exchange holds it: working, or (partly) filled."""
    REFUSED = "refused"
    """Provably not placed (refused, rate limited, or over without any fill)."""
    UNKNOWN = "unknown"
    """It may have been placed: the exchange could not say."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of :meth:`OrderSender.send`."""

    outcome: Sent
    order: ExchangeOrder | None = None
    error: ExchangeError | None = None

    @property
    def may_have_filled(self) -> bool:
        """True unless the order provably never traded."""
        if self.outcome is Sent.UNKNOWN:
            return True
        return self.order is not None and (
            self.order.executed_qty > 0 or self.order.status not in _OVER
        )

    @property
    def filled(self) -> bool:
        """True when the whole order traded."""
        return self.order is not None and self.order.status is OrderStatus.FILLED


class OrderSender:
    """Sends one account's orders through its exchange port, journaling every step.

    Args:
        account_id: The account.
        exchange: Its exchange port.
        journal: The journal.
        clock: Time, for rate-limit waits.
        backlog: Journal writes waiting out a database outage (shared with the loop).
        rate_limit_wait: The longest a protection or exit order waits out a rate limit.
    """

    def __init__(
        self,
        account_id: str,
        exchange: Exchange,
        journal: Journal,
        *,
        clock: Clock,
        backlog: JournalBacklog | None = None,
        rate_limit_wait: timedelta = timedelta(minutes=3),
    ) -> None:
        self._account = account_id
        self._exchange = exchange
        self._journal = journal
        self._clock = clock
        self.backlog = backlog or JournalBacklog()
        self._rate_limit_wait = rate_limit_wait

    async def send(
        self, request: OrderRequest, leg_id: uuid.UUID | None, purpose: str, now: datetime
    ) -> SendResult:
        """Journal the intent, send, journal the result.

        An entry is only sent once its intent is in the journal; every other order goes out
        even while the database is away (its records wait in the backlog).
        """
        cid = request.client_order_id

        async def intent() -> None:
            await self._journal.order_intent(self._account, leg_id, request, purpose, now)

        if purpose == "entry":
            await intent()
        else:
            await self.backlog.write(f"intent of {cid}", intent)
        try:
            order = await self._place(request, waits=purpose != "entry")
        except RateLimited as exc:
            await self._status(cid, now, "not_sent", f"not sent: {exc}")
            await self.event("order.not_sent", f"{cid}: {exc}", severity="warning")
            return SendResult(Sent.REFUSED, error=exc)
        except OrderRejected as exc:
            await self._status(cid, now, "rejected", str(exc))
            await self.event("order.rejected", str(exc), severity="warning")
            return SendResult(Sent.REFUSED, error=exc)
        except ExchangeError as exc:
            await self._status(cid, now, "unknown", str(exc))
            await self.event("order.unknown", str(exc), severity="error")
            return SendResult(Sent.UNKNOWN, error=exc)
        await self.backlog.write(
            f"status of {cid}", lambda: self._journal.order_update(order, cid, now)
        )
        result = SendResult(Sent.PLACED, order)
        # An order that is already over with nothing filled (its id reused, or expired
        # unfilled) placed nothing.
        return result if result.may_have_filled else SendResult(Sent.REFUSED, order)

    async def _place(self, request: OrderRequest, *, waits: bool) -> ExchangeOrder:
        """Place the order; with ``waits``, wait out rate limits (bounded) and try again."""
        give_up = self._clock.now() + self._rate_limit_wait
        while True:
            try:
                return await self._exchange.place_order(request)
            except RateLimited as exc:
                if not waits or exc.retry_at > give_up:
                    raise
                logger.warning(
                    "%s: rate limited; waiting until %s to send it",
                    request.client_order_id,
                    exc.retry_at.isoformat(),
                )
                await self._clock.sleep_until(exc.retry_at)

    async def _status(self, cid: str, now: datetime, status: str, error: str) -> None:
        await self.backlog.write(
            f"status of {cid}",
            lambda: self._journal.order_update(None, cid, now, status=status, error=error),
        )

    async def event(
        self,
        kind: str,
        message: str,
        *,
        severity: str = "info",
        payload: dict[str, object] | None = None,
    ) -> None:
        """Journal an event of the account, through the backlog."""
        await self.backlog.write(
            kind,
            lambda: self._journal.event(
                self._account,
                kind,
                message,
                at=self._clock.now(),
                severity=severity,
                payload=payload,
            ),
        )
