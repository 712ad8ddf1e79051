"""Channel names and event names of the event stream (pure: no I/O, no framework).

Channels::

    account.{id}.decisions | orders | fills | positions | equity | events
    market.{SYMBOL}.{interval}
    backtest.{run id}            (a backtest started over the API: backtest.backtest-<uuid>)

An account id is what ``ACCOUNT_IDS`` allows (letters, digits, ``-``); a symbol is upper-case
letters and digits (``BTCUSDT``); an interval is an AsterDEX kline interval (``1m`` ... ``1M``).
"""

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from app.core.types import KLINE_INTERVALS_MS

AccountTopic = Literal["decisions", "orders", "fills", "positions", "equity", "events"]
ACCOUNT_TOPICS: Final[frozenset[str]] = frozenset(get_args(AccountTopic))

EventName = Literal[
    "decision.proposed",
    "decision.approved",
    "decision.adjusted",
    "decision.rejected",
    "order.new",
    "order.filled",
    "order.partially_filled",
    "order.canceled",
    "order.rejected",
    "order.expired",
    "order.not_sent",
    "order.unknown",
    "fill",
    "position.opened",
    "position.changed",
    "position.closed",
    "protection.armed",
    "protection.missing",
    "risk.halt",
    "equity.tick",
    "llm.cost",
    "candle.closed",
]
"""The documented event names; ``order.<status>`` and agent event types extend them."""

EVENT_NAMES: Final[frozenset[str]] = frozenset(get_args(EventName))

BacktestEvent = Literal["backtest.started", "backtest.progress", "backtest.finished"]
"""What a ``backtest.{id}`` channel carries: its start, its progress, how it ended."""

BACKTEST_EVENTS: Final[frozenset[str]] = frozenset(get_args(BacktestEvent))

_ACCOUNT: Final = re.compile(
    r"account\.(?P<account>[A-Za-z0-9][A-Za-z0-9-]{0,31})\.(?P<topic>[a-z]+)"
)
_BACKTEST: Final = re.compile(r"backtest\.(?P<run>backtest-[0-9a-f-]{1,54})")
_MARKET: Final = re.compile(r"market\.(?P<symbol>[A-Z0-9]{2,30})\.(?P<interval>[0-9]+[mhdwM])")
# Any `order.<status lowercased>`: the exchange may add statuses we have not listed.
_ORDER_EVENT: Final = re.compile(r"order\.[a-z][a-z0-9_]*")
# Agent event types are one word or `<word>.<word>` (recovery, cycle.skipped, ...).
_AGENT_EVENT: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?")


class InvalidChannel(ValueError):
    """A channel name that matches none of the channel patterns."""


class InvalidEvent(ValueError):
    """An event name that the channel does not carry."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A parsed channel name.

    Attributes:
        name: The channel as written (``account.default.orders``).
        kind: ``account``, ``market`` or ``backtest``.
        account_id: The account of an ``account.*`` channel, else None.
        topic: The account topic (``orders``), the interval of a market channel, or ``run``
            for a backtest channel.
        symbol: The symbol of a ``market.*`` channel, else None.
        run_id: The run of a ``backtest.*`` channel, else None.
    """

    name: str
    kind: Literal["account", "market", "backtest"]
    account_id: str | None
    topic: str
    symbol: str | None = None
    run_id: str | None = None


def parse_channel(name: str) -> Channel:
    """Parse and validate a channel name.

    Raises:
        InvalidChannel: ``name`` matches no channel pattern (the message says which exist).
    """
    if (match := _ACCOUNT.fullmatch(name)) and match["topic"] in ACCOUNT_TOPICS:
        return Channel(name, "account", match["account"], match["topic"])
    if (match := _MARKET.fullmatch(name)) and match["interval"] in KLINE_INTERVALS_MS:
        return Channel(name, "market", None, match["interval"], match["symbol"])
    if match := _BACKTEST.fullmatch(name):
        return Channel(name, "backtest", None, "run", run_id=match["run"])
    topics = "|".join(sorted(ACCOUNT_TOPICS))
    raise InvalidChannel(
        f"'{name[:80]}' is not a channel: use account.{{id}}.{topics}, "
        "market.{SYMBOL}.{interval} (e.g. market.BTCUSDT.1m) or backtest.{run id}"
    )


def check_event(channel: Channel, event: str) -> None:
    """Check that ``channel`` may carry ``event``.

    ``account.{id}.events`` carries any agent event type (one word or ``<word>.<word>``);
    ``backtest.{id}`` carries the backtest events; the other channels carry the documented
    names and any ``order.<status>``.

    Raises:
        InvalidEvent: The name is malformed, or undocumented outside the events channel.
    """
    if channel.kind == "backtest":
        if event in BACKTEST_EVENTS:
            return
    elif channel.kind == "account" and channel.topic == "events":
        if _AGENT_EVENT.fullmatch(event):
            return
    elif event in EVENT_NAMES or _ORDER_EVENT.fullmatch(event):
        return
    raise InvalidEvent(f"channel {channel.name} does not carry event '{event}'")
