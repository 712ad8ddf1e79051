"""The agent supervisor: one named task per account, started and stopped with the service.

The decision loop itself arrives with the agent runtime; until then every account is
registered and reported as ``stopped``, so the API and readiness checks have a real object
to talk to.
"""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.core.types import AccountId, TradingMode

logger = logging.getLogger(__name__)


class AgentState(StrEnum):
    """What one account's agent loop is doing."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A snapshot of one account's agent, for the API."""

    account_id: AccountId
    trading_mode: TradingMode
    state: AgentState
    detail: str


class AgentSupervisor:
    """Owns the per-account agent tasks; safe to start and close more than once."""

    def __init__(self, accounts: Iterable[tuple[AccountId, TradingMode]]) -> None:
        self._accounts = dict(accounts)
        self._tasks: dict[AccountId, asyncio.Task[None]] = {}
        self._started = False

    async def start(self) -> None:
        """Start every account's loop (none exist yet: accounts are registered, stopped)."""
        self._started = True
        logger.info(
            "agent supervisor started for %d account(s): %s (no decision loop yet)",
            len(self._accounts),
            ", ".join(self._accounts),
        )

    def status(self) -> list[AgentStatus]:
        """The state of every account's agent, in configuration order."""
        return [
            AgentStatus(
                account_id=account_id,
                trading_mode=mode,
                state=AgentState.RUNNING if account_id in self._tasks else AgentState.STOPPED,
                detail="supervisor running" if self._started else "supervisor not started",
            )
            for account_id, mode in self._accounts.items()
        ]

    async def aclose(self) -> None:
        """Cancel every account task and wait for them to finish."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._started:
            logger.info("agent supervisor stopped")
        self._started = False
