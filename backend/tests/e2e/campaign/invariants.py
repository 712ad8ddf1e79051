"""The campaign's invariants, judged against the fake exchange's own records.

- :func:`duplicate_orders`: no client id was used twice, and no decision leg
  (``ta-<decision>-<leg>``) sent more than one entry or more than one reducing order.
- :func:`lost_fills`: every trade on the fake is in the service's ``/fills``.
- :func:`journal_mismatches`: the journaled fills net to the fake's positions.
- :func:`position_mismatches`: the service's ``/positions`` equal the fake's positions.

Each returns findings keyed by a stable identity, so a problem seen at several steps is
counted once (the first step that saw it is the one reported). Protection and the loop's
health are watched continuously (``tests.e2e.campaign.monitor``).
"""

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tests.fakes.asterdex import FakeAccount, FakeOrder

# ta-<16 hex of the decision>-<leg index>-<order number or sl/tp>
LEG_ORDER_RE = re.compile(r"^(ta-[0-9a-f]{16}-\d+)-(\w+)$")


def _order_text(order: FakeOrder) -> str:
    flags = " reduceOnly" if order.reduce_only else ""
    flags += " closePosition" if order.close_position else ""
    return (
        f"{order.client_order_id} #{order.order_id} {order.symbol} {order.side} {order.type}"
        f" qty={order.orig_qty} filled={order.executed_qty} {order.status}{flags}"
    )


def duplicate_orders(account: FakeAccount) -> dict[str, str]:
    """Identity -> evidence for every duplicate."""
    found: dict[str, str] = {}
    counts = Counter(order.client_order_id for order in account.orders)
    for client_id, count in counts.items():
        if count > 1:
            same = [_order_text(o) for o in account.orders if o.client_order_id == client_id]
            found[f"client id {client_id}"] = f"client id used {count} times: " + "; ".join(same)
    legs: dict[tuple[str, str], list[FakeOrder]] = defaultdict(list)
    for order in account.orders:
        match = LEG_ORDER_RE.match(order.client_order_id)
        if match is None or match.group(2) in ("sl", "tp"):
            continue
        kind = "reducing" if order.reduce_only or order.close_position else "entry"
        legs[(match.group(1), kind)].append(order)
    for (prefix, kind), orders in legs.items():
        if len(orders) > 1:
            found[f"leg {prefix} {kind}"] = (
                f"decision leg {prefix} sent {len(orders)} {kind} orders: "
                + "; ".join(_order_text(o) for o in orders)
            )
    return found


def lost_fills(account: FakeAccount, fills: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Trade id -> evidence for every fake trade missing from ``fills``."""
    journaled = {str(item["trade_id"]) for item in fills}
    by_order = {order.order_id: order for order in account.orders}
    found: dict[str, str] = {}
    for trade in account.trades:
        if str(trade.trade_id) in journaled:
            continue
        order = by_order.get(trade.order_id)
        client = order.client_order_id if order else "?"
        found[str(trade.trade_id)] = (
            f"trade {trade.trade_id} ({trade.symbol} {trade.side} {trade.qty} @ {trade.price},"
            f" order {client}, time {trade.time}) not in /fills ({len(fills)} fills journaled)"
        )
    return found


def fake_positions(account: FakeAccount) -> dict[str, tuple[str, Decimal, Decimal]]:
    """Symbol -> (side, quantity, entry price) of every open position on the fake."""
    return {
        symbol: ("long" if p.amount > 0 else "short", abs(p.amount), p.entry_price)
        for symbol, p in account.positions.items()
        if p.amount != 0
    }


def service_positions(items: Sequence[dict[str, Any]]) -> dict[str, tuple[str, Decimal, Decimal]]:
    """The same view of the service's ``/positions`` answer."""
    return {
        str(item["symbol"]): (
            str(item["side"]),
            Decimal(str(item["quantity"])),
            Decimal(str(item["entry_price"])),
        )
        for item in items
    }


def position_mismatches(account: FakeAccount, items: Sequence[dict[str, Any]]) -> list[str]:
    """One line per symbol whose side or quantity differs."""
    fake, seen = fake_positions(account), service_positions(items)
    problems = []
    for symbol in sorted(set(fake) | set(seen)):
        want, got = fake.get(symbol), seen.get(symbol)
        if want is None or got is None or want[:2] != got[:2]:
            problems.append(f"{symbol}: fake {_position_text(want)}, service {_position_text(got)}")
    return problems


def _position_text(position: tuple[str, Decimal, Decimal] | None) -> str:
    if position is None:
        return "flat"
    side, quantity, entry = position
    return f"{side} {quantity} @ {entry}"


def journal_mismatches(account: FakeAccount, fills: Sequence[dict[str, Any]]) -> list[str]:
    """The net of the journaled fills equals the fake's positions (one line per symbol).

    The account starts flat, so per symbol the signed sum of its fills is its position: a
    fill journaled twice (under another trade id) or with a wrong quantity shows here.
    """
    net: dict[str, Decimal] = defaultdict(Decimal)
    for item in fills:
        quantity = Decimal(str(item["quantity"]))
        net[str(item["symbol"])] += quantity if item["side"] == "BUY" else -quantity
    problems = []
    for symbol in sorted(set(net) | set(account.positions)):
        fake = account.positions[symbol].amount if symbol in account.positions else Decimal(0)
        if net[symbol] != fake:
            problems.append(f"{symbol}: fake {fake}, journaled fills net {net[symbol]}")
    return problems
