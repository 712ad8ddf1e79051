"""SQL for the trading tables. Repositories flush; the caller's unit of work commits."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.types import AccountId, TradingMode
from app.trading.models import Account


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
