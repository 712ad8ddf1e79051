"""Date ranges in replay time: the rules agent paper-trades three replayed days of the bundled
candles into PostgreSQL, then every ranged read of the REST API over a window inside them
returns exactly what the unbounded read, cut to that window by hand, holds (lists, funding
and other events, the equity curve, the performance totals), and no record carries the wall
clock's time.

Lists and ``/performance`` alike take ``start`` (inclusive) and ``end`` (exclusive). The
window's bounds are the times of funding events, so records lie exactly on both bounds and
each side's inclusiveness is tested.
"""

import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.agent.supervisor import AgentState
from app.core.types import AccountId
from app.runtime.container import RuntimeOptions
from tests.conftest import PostgresDatabases
from tests.service import RunningService, serve
from tests.waiting import until

pytestmark = pytest.mark.postgres
TOKEN = "replay-ranges-token-0123456789abcdef"
ACCOUNT = "/api/v1/accounts/default"
REPLAYED = timedelta(days=3)
Item = dict[str, Any]
# The time that places each list's items in a range (the lists' keyset column).
TIME_OF = {
    "decisions": "created_at",
    "events": "occurred_at",
    "fills": "filled_at",
    "orders": "created_at",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Replayed:
    """The paused service after the replay, the replayed period and everything it wrote."""

    service: RunningService
    began: datetime
    ended: datetime
    lists: dict[str, list[Item]]  # unbounded, every page
    curve: list[Item]  # unbounded, one point a minute (every snapshot)

    def client(self) -> httpx.AsyncClient:
        return self.service.client(TOKEN)


class Lines(logging.Handler):
    """Keeps the records of one logger."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def every_page(http: httpx.AsyncClient, path: str, **params: str) -> list[Item]:
    """All items of a list, following the cursors (a small page, so ranges span pages)."""
    items: list[Item] = []
    cursor: str | None = None
    while True:
        query = {"limit": "7", **params} | ({"cursor": cursor} if cursor else {})
        response = await http.get(f"{ACCOUNT}/{path}", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def performance(http: httpx.AsyncClient, **params: str) -> Item:
    response = await http.get(f"{ACCOUNT}/performance", params={"bucket": "1m", **params})
    assert response.status_code == 200, response.text
    body: Item = response.json()
    return body


@pytest.fixture(scope="module")
async def replayed(
    postgres_databases: PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replayed]:
    """Three replayed days (about ten seconds), then the agent paused: nothing changes after."""
    lines = Lines()
    app_logger = logging.getLogger("app")
    app_logger.addHandler(lines)
    with pytest.MonkeyPatch.context() as env:
        env.chdir(tmp_path_factory.mktemp("replay"))
        for name, value in {
            "DATABASE_URL": await postgres_databases.create(),
            "AGENTS_ENABLED": "true",
            "API_TOKEN": TOKEN,
            "REPLAY_SPEED": "1000000",
            "CONFIG_WATCH_ENABLED": "false",
        }.items():
            env.setenv(name, value)
        try:
            async with serve(RuntimeOptions(replay=True)) as service:
                loop = service.container.supervisor.loop(AccountId("default"))
                assert loop is not None
                (announced,) = [
                    r for r in lines.records if r.msg.startswith("replaying recorded candles")
                ]
                began = announced.args[0] if isinstance(announced.args, tuple) else None
                assert isinstance(began, datetime)
                account = AccountId("default")

                def replayed_or_stopped() -> bool:
                    state = service.container.supervisor.account_status(account).state
                    return state != AgentState.RUNNING or loop.clock.now() >= began + REPLAYED

                await until(replayed_or_stopped, "three replayed days", 40)
                status = service.container.supervisor.account_status(account)
                assert status.state == AgentState.RUNNING, status.detail
                async with service.client(TOKEN) as http:
                    paused = await http.post(f"{ACCOUNT}/agent/pause")
                    assert paused.status_code == 200, paused.text
                    ended = loop.clock.now()
                    lists = {path: await every_page(http, path) for path in TIME_OF}
                    curve = (await performance(http))["curve"]
                yield Replayed(service, began, ended, lists, curve)
        finally:
            app_logger.removeHandler(lines)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def query(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@pytest.fixture(scope="module")
def window(replayed: Replayed) -> Window:
    """From the second funding time to the last one: inside the replay, not all of it."""
    funding = sorted(
        {at(e["occurred_at"]) for e in replayed.lists["events"] if e["type"] == "funding"}
    )
    assert len(funding) >= 4, funding
    window = Window(funding[1], funding[-1])
    for path, key in TIME_OF.items():
        times = [at(item[key]) for item in replayed.lists[path]]
        inside = [t for t in times if window.holds(t)]
        assert inside, f"no {path} in {window}"
        if path in ("decisions", "events"):
            assert min(times) < window.start, path
            assert max(times) >= window.end, path
    return window


def cut(items: Iterable[Item], key: str, keep: Callable[[datetime], bool]) -> list[Item]:
    return [item for item in items if keep(at(item[key]))]


def ids(items: Iterable[Item]) -> list[str]:
    return [item["id"] for item in items]


def total(items: Iterable[Item], field: str) -> Decimal:
    return sum((Decimal(item[field]) for item in items), Decimal(0))


def funding_total(events: Iterable[Item]) -> Decimal:
    return sum(
        (Decimal(e["payload"]["amount"]) for e in events if e["type"] == "funding"), Decimal(0)
    )


def trips(fills: list[Item], keep: Callable[[datetime], bool]) -> list[Decimal]:
    """Net PnL (realised minus fees, from open to flat) of the round trips that went flat at
    a kept time, by hand from every fill, in the exchange's trade order."""

    def order(fill: Item) -> tuple[datetime, int]:
        number = re.search(r"\d+$", fill["trade_id"])
        assert number is not None, fill["trade_id"]
        return at(fill["filled_at"]), int(number.group())

    position: dict[str, Decimal] = {}
    running: dict[str, Decimal] = {}
    closed: list[Decimal] = []
    for fill in sorted(fills, key=order):
        symbol, fee = fill["symbol"], Decimal(fill["fee"])
        before = position.get(symbol, Decimal(0))
        after = before + Decimal(fill["quantity"]) * (1 if fill["side"] == "BUY" else -1)
        position[symbol] = after
        net = running.get(symbol, Decimal(0)) + Decimal(fill["realized_pnl"])
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            # Flat, or reversed: the closing part of the fill (and of its fee) ends the trip.
            closing_fee = fee * abs(before) / abs(after - before)
            if keep(at(fill["filled_at"])):
                closed.append(net - closing_fee)
            running[symbol] = -(fee - closing_fee)
        else:
            running[symbol] = net - fee
    return closed


def win_rate(nets: list[Decimal]) -> str | None:
    return None if not nets else str(money(Decimal(sum(n > 0 for n in nets)) / len(nets)))


def profit_factor(nets: list[Decimal]) -> str | None:
    loss = -sum((n for n in nets if n < 0), Decimal(0))
    return None if loss == 0 else str(money(sum((n for n in nets if n > 0), Decimal(0)) / loss))


def money(value: Decimal) -> Decimal:
    """As ``/performance`` shows an amount: 8 places, no padding zeros."""
    return value.quantize(Decimal("0.00000001")).normalize()


async def test_no_record_carries_a_wall_clock_time(replayed: Replayed) -> None:
    moments = [at(item[key]) for path, key in TIME_OF.items() for item in replayed.lists[path]]
    moments += [at(item["updated_at"]) for item in replayed.lists["orders"]]
    moments += [
        at(step["at"]) for item in replayed.lists["orders"] for step in item["status_history"]
    ]
    moments += [at(point["at"]) for point in replayed.curve]

    assert len(moments) > 200
    outside = [m for m in moments if not replayed.began <= m <= replayed.ended]
    assert not outside, f"outside {replayed.began} .. {replayed.ended}: {outside[:5]}"
    assert min(moments) == replayed.began  # the first cycle decides at the replay's start


async def test_every_list_in_a_window_is_the_unbounded_list_cut_to_it(
    replayed: Replayed, window: Window
) -> None:
    async with replayed.client() as http:
        for path, key in TIME_OF.items():
            ranged = await every_page(http, path, **window.query())
            expected = cut(replayed.lists[path], key, window.holds)
            assert ids(ranged) == ids(expected), path
        funding = await every_page(http, "events", type="funding", **window.query())

    expected_funding = cut(
        (e for e in replayed.lists["events"] if e["type"] == "funding"), "occurred_at", window.holds
    )
    assert len(expected_funding) >= 2
    assert ids(funding) == ids(expected_funding)
    # Both bounds hold records: the one at start is in, the one at end out.
    assert window.start in {at(e["occurred_at"]) for e in funding}
    assert window.end not in {at(e["occurred_at"]) for e in funding}


async def test_performance_in_a_window_sums_what_the_lists_hold_in_it(
    replayed: Replayed, window: Window
) -> None:
    """``/performance`` with its documented bounds: from ``start`` (included) to ``end`` (left
    out)."""
    keep = window.holds
    async with replayed.client() as http:
        ranged = await performance(http, **window.query())

    fills = cut(replayed.lists["fills"], "filled_at", keep)
    events = cut(replayed.lists["events"], "occurred_at", keep)
    decisions = cut(replayed.lists["decisions"], "created_at", keep)
    curve = cut(replayed.curve, "at", keep)
    assert fills
    assert funding_total(events) != 0
    assert ranged["curve"] == curve
    assert ranged["start_equity"] == curve[0]["equity"]
    assert ranged["end_equity"] == curve[-1]["equity"]
    assert Decimal(ranged["funding"]) == money(funding_total(events))
    assert Decimal(ranged["fees"]) == money(total(fills, "fee"))
    assert Decimal(ranged["realized_pnl"]) == money(total(fills, "realized_pnl"))
    assert ranged["decisions"] == len(decisions)
    closed = trips(replayed.lists["fills"], keep)
    assert ranged["trades"] == len(closed)
    assert ranged["win_rate"] == win_rate(closed)
    assert ranged["profit_factor"] == profit_factor(closed)


async def test_the_whole_replay_adds_up_too(replayed: Replayed) -> None:
    async with replayed.client() as http:
        whole = await performance(http)

    fills, events = replayed.lists["fills"], replayed.lists["events"]
    assert Decimal(whole["funding"]) == money(funding_total(events))
    assert Decimal(whole["fees"]) == money(total(fills, "fee"))
    assert whole["decisions"] == len(replayed.lists["decisions"])
    closed = trips(fills, lambda _: True)
    assert whole["trades"] == len(closed) > 0
    assert whole["win_rate"] == win_rate(closed)
    assert whole["profit_factor"] == profit_factor(closed)


async def test_performance_and_the_lists_agree_on_one_window(
    replayed: Replayed, window: Window
) -> None:
    """The same ``start``/``end`` on ``/performance`` and on the lists means the same records
    (the window ends on a funding time and on a cycle's decision)."""
    async with replayed.client() as http:
        ranged = await performance(http, **window.query())
        events = await every_page(http, "events", **window.query())
        decisions = await every_page(http, "decisions", **window.query())
        fills = await every_page(http, "fills", **window.query())

    listed = {
        "funding": money(funding_total(events)),
        "fees": money(total(fills, "fee")),
        "decisions": len(decisions),
    }
    answered = {
        "funding": Decimal(ranged["funding"]),
        "fees": Decimal(ranged["fees"]),
        "decisions": ranged["decisions"],
    }
    assert answered == listed
