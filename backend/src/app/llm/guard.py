"""Which provider decides: the LLM, or the rules when there is no key, no budget or no credits.

Every outcome says who decided and why (its ``notes``), and alerts go to the caller's sink.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from app.core.clock import Clock
from app.llm.context import DecisionContext
from app.llm.errors import LlmAuthError, LlmNoCredits
from app.llm.ports import DecisionOutcome, DecisionProvider

logger = logging.getLogger(__name__)

type AlertSink = Callable[[str, str], Awaitable[None]]


class SpendLedger(Protocol):
    """How much an account spent on LLM calls on a UTC day (from the persisted calls)."""

    async def spent(self, account_id: str, day: date) -> Decimal:
        """Total cost in USD of the account's calls that day."""
        ...


async def _no_alert(kind: str, message: str) -> None:
    logger.warning("%s: %s", kind, message)


class GuardedDecisionProvider:
    """The LLM under a daily budget and a credit pause, with the rules as the fallback.

    Args:
        llm: The LLM provider, or None when no OpenRouter key is configured.
        rules: The rules-based provider.
        clock: Time source (the budget day is the UTC day).
        spend: Where the day's spend is read.
        daily_budget_usd: ``LLM_DAILY_BUDGET_USD``; None for no budget.
        credit_pause: How long a 402 pauses LLM calls.
        alert: Receives (kind, message) for events that need a human.
    """

    name = "guarded"

    def __init__(
        self,
        llm: DecisionProvider | None,
        rules: DecisionProvider,
        *,
        clock: Clock,
        spend: SpendLedger,
        daily_budget_usd: Decimal | None = None,
        credit_pause: timedelta = timedelta(hours=1),
        alert: AlertSink = _no_alert,
    ) -> None:
        self._llm = llm
        self._rules = rules
        self._clock = clock
        self._spend = spend
        self._budget = daily_budget_usd
        self._credit_pause = credit_pause
        self._alert = alert
        self._paused_until: datetime | None = None

    @property
    def daily_budget_usd(self) -> Decimal | None:
        """The daily LLM budget (None: unlimited); settable for hot reload."""
        return self._budget

    @daily_budget_usd.setter
    def daily_budget_usd(self, budget: Decimal | None) -> None:
        self._budget = budget

    @property
    def paused_until(self) -> datetime | None:
        """When LLM calls resume after a 402 (None when not paused)."""
        return self._paused_until

    async def decide(self, context: DecisionContext) -> DecisionOutcome:
        """Decide with the LLM when allowed, else with the rules, saying why."""
        reason = await self._why_not_llm(context)
        if reason is None and self._llm is not None:
            try:
                return await self._llm.decide(context)
            except LlmNoCredits as exc:
                self._paused_until = self._clock.now() + self._credit_pause
                reason = f"OpenRouter is out of credits ({exc}); LLM paused until " + (
                    self._paused_until.isoformat()
                )
                await self._alert("llm.no_credits", reason)
            except LlmAuthError as exc:
                reason = f"OpenRouter refused the API key ({exc})"
                await self._alert("llm.auth_failed", reason)
        outcome = await self._rules.decide(context)
        return replace(outcome, notes=(*outcome.notes, f"rules provider decided: {reason}"))

    async def _why_not_llm(self, context: DecisionContext) -> str | None:
        if self._llm is None:
            return "no OPENROUTER_API_KEY configured"
        now = self._clock.now()
        if self._paused_until is not None:
            if now < self._paused_until:
                return f"LLM paused after running out of credits, until {self._paused_until}"
            self._paused_until = None
        if self._budget is not None:
            spent = await self._spend.spent(context.account_id, now.date())
            if spent >= self._budget:
                message = (
                    f"LLM daily budget spent ({spent:.4f} of {self._budget} USD, "
                    "LLM_DAILY_BUDGET_USD)"
                )
                await self._alert("llm.budget_spent", message)
                return message
        return None
