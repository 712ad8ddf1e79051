"""SQL for the trading tables. Repositories flush; the caller's unit of work commits."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.types import AccountId, TradingMode
from app.trading.domain import RiskState
from app.trading.models import Account, RiskStateRow
from app.trading.runs import ACCOUNT_RUN


async def sync_accounts(
    session: AsyncSession, accounts: Iterable[tuple[AccountId, TradingMode]]
) -> None:
    """Make sure every configured account has a row, with its current trading mode.

    Accounts that are no longer configured keep their rows: their history stays auditable.
    """
    wanted = dict(accounts)
    existing = (await session.scalars(select(Account).where(Account.id.in_(list(wanted))))).all()
    for account in existing:
        account.trading_mode = wanted.pop(AccountId(account.id)).value
    session.add_all(Account(id=aid, trading_mode=mode.value) for aid, mode in wanted.items())
    await session.flush()


async def load_risk_state(
    session: AsyncSession, account_id: str, *, run_id: str = ACCOUNT_RUN
) -> RiskState | None:
    """The account's persisted risk state in ``run_id``, if any."""
    row = await session.get(RiskStateRow, (run_id, account_id))
    if row is None:
        return None
    return RiskState(
        day=row.day,
        day_start_equity=row.day_start_equity,
        halted=row.halted,
        halt_reason=row.halt_reason,
        stop_outs={s: datetime.fromisoformat(t) for s, t in row.stop_outs.items()},
    )


async def save_risk_state(
    session: AsyncSession,
    account_id: str,
    state: RiskState,
    at: datetime,
    *,
    run_id: str = ACCOUNT_RUN,
) -> None:
    """Persist the account's risk state (one row per run and account) as of ``at``.

    A backtest's daily-loss halt lives in its own run and never halts the account.
    """
    row = await session.get(RiskStateRow, (run_id, account_id))
    stop_outs = {symbol: when.isoformat() for symbol, when in state.stop_outs.items()}
    if row is None:
        row = RiskStateRow(run_id=run_id, account_id=account_id)
        session.add(row)
    row.day = state.day
    row.day_start_equity = state.day_start_equity
    row.halted = state.halted
    row.halt_reason = state.halt_reason
    row.stop_outs = stop_outs
    row.updated_at = at
    await session.flush()
