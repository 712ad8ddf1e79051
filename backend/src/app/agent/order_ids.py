"""The client-order-id scheme: every id the service sends, and how it reads ids back.

Ids are deterministic where a retry or a restart must find the same order (an order is
never placed twice: the exchange is asked for the id before anything is resent), and
unique where each attempt is a new order (a guardian re-arm, an operator's close)::

    ta-<decision 16 hex>-<leg>            a decision leg's prefix
    ta-<decision 16 hex>-<leg>-<n>        its n-th order (entry, close, reduction)
    <prefix>-sl / <prefix>-tp             the protection armed for that prefix
    ta-g<ms hex><seq hex>-<symbol>        a guardian re-arm's prefix (then -sl / -tp)
    ta-<reason>-<symbol>-<unix s>         a whole-position close (kill, operator, policy)

AsterDEX allows 36 characters of ``[.A-Z:/a-z0-9_-]``; every form above stays within them.
Fills of orders the exchange (or the paper venue) sent itself carry its own prefixes.
"""

from datetime import datetime
from uuid import UUID

STOP_LOSS, TAKE_PROFIT = "sl", "tp"
FORCED_CLOSE_PREFIXES = ("autoclose-", "adl_autoclose", "liquidation-")
"""Client ids of liquidations and auto-deleverage closes (AsterDEX's and the paper venue's)."""


def leg_prefix(decision_id: UUID, leg_index: int) -> str:
    """The prefix of every order of one decision leg."""
    return f"ta-{decision_id.hex[:16]}-{leg_index}"


def leg_order(prefix: str, number: int) -> str:
    """The ``number``-th order of a leg (or of any prefix)."""
    return f"{prefix}-{number}"


def protection(prefix: str, tag: str) -> str:
    """The stop (``STOP_LOSS``) or target (``TAKE_PROFIT``) armed under ``prefix``."""
    return f"{prefix}-{tag}"


def guard_prefix(now: datetime, sequence: int, symbol: str) -> str:
    """A guardian re-arm's prefix.

    Unique per arming, within a millisecond and across restarts: a reused id would only
    find the order it replaces.
    """
    stamp = int(now.timestamp() * 1000)
    return f"ta-g{stamp:x}{sequence:x}-{symbol.lower()[:10]}"


def position_close(reason: str, symbol: str, now: datetime) -> str:
    """A reduce-only close of a whole position."""
    return f"ta-{reason}-{symbol.lower()}-{int(now.timestamp())}"


def is_stop_loss(client_order_id: str) -> bool:
    """Whether the id is a protective stop the service armed."""
    return client_order_id.endswith(f"-{STOP_LOSS}")


def is_forced_close(client_order_id: str) -> bool:
    """Whether the id is a liquidation or auto-deleverage the exchange sent itself."""
    return client_order_id.startswith(FORCED_CLOSE_PREFIXES)
