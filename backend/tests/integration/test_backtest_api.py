"""``/api/v1/backtests`` over real HTTP on PostgreSQL: start, follow on ``/ws``, read, cancel.

The runs trade a small recording cut from the bundled candles (``tests.backtest.data``).
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.backtest import store
from app.backtest.models import BacktestRunRow
from app.config._values import normalise_database_url
from app.db.engine import create_engine
from app.db.migrate import upgrade_to_head
from app.db.paging import PageRequest
from app.db.session import create_session_factory, session_scope
from app.streaming.messages import SERVER_MESSAGES, EventMessage, SubscribedMessage
from tests.backtest.data import END, LAST, START, write_recording
from tests.service import RunningService, serve

pytestmark = pytest.mark.postgres
FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
BACKTESTS = "/api/v1/backtests"
DEADLINE_S = 120.0


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    for name, value in {
        "DATABASE_URL": postgres_url,
        "API_TOKEN": FULL,
        "API_READ_TOKEN": READ,
        "CONFIG_WATCH_ENABLED": "false",
    }.items():
        monkeypatch.setenv(name, value)
    async with serve() as running:
        yield running


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return write_recording(tmp_path / "recording")


def request(recording: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "start": START.isoformat(),
        "end": END.isoformat(),
        "assets": ["BTC", "ETH"],
        "data_dir": str(recording),
        "title": "ten days",
        **overrides,
    }


async def start(http: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await http.post(BACKTESTS, json=body)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert isinstance(run_id, str)
    assert run_id.startswith("backtest-")
    return run_id


async def ended(http: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """The run once it is no longer running (polled, with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        response = await http.get(f"{BACKTESTS}/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] != "running":
            return run
        assert loop.time() < deadline, f"still running after {DEADLINE_S} s: {run['progress']}"
        await asyncio.sleep(0.05)


async def test_a_backtest_runs_in_the_background_and_serves_its_results(
    service: RunningService, recording: Path
) -> None:
    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        run = await ended(http, run_id)
        trades = (await http.get(f"{BACKTESTS}/{run_id}/trades")).json()
        equity = (await http.get(f"{BACKTESTS}/{run_id}/equity")).json()
        decisions = (await http.get(f"{BACKTESTS}/{run_id}/decisions")).json()
        first = (await http.get(f"{BACKTESTS}/{run_id}/decisions", params={"limit": 100})).json()
        second = (
            await http.get(
                f"{BACKTESTS}/{run_id}/decisions",
                params={"limit": 100, "cursor": first["next_cursor"]},
            )
        ).json()
        listed = (await http.get(BACKTESTS)).json()

    assert run["status"] == "completed", run
    assert run["title"] == "ten days"
    assert run["config"]["assets"] == ["BTC", "ETH"]
    assert run["progress"]["ticks"] == run["progress"]["total_ticks"] == 240
    assert run["finished_at"] is not None
    metrics = run["metrics"]
    assert {"total_return_pct", "sharpe", "max_drawdown_pct", "trades"} <= set(metrics)
    assert metrics["decisions"] == 240
    assert trades["items"], "the rules trade in ten days of real BTC and ETH"
    assert {t["symbol"] for t in trades["items"]} <= {"BTCUSDT", "ETHUSDT"}
    assert len(equity["items"]) == 240
    assert len(decisions["items"]) == 240
    assert datetime.fromisoformat(decisions["items"][0]["at"]) == START
    assert second["items"][0] == decisions["items"][100]
    assert [r["id"] for r in listed["items"]] == [run_id]


async def test_a_subscriber_follows_the_progress_and_the_end(
    service: RunningService, recording: Path
) -> None:
    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        channel = f"backtest.{run_id}"
        headers = {"Authorization": f"Bearer {READ}"}
        received: list[EventMessage] = []
        async with connect(service.ws_url, additional_headers=headers) as ws:
            # since_seq 0: the events published before this subscription come first.
            await ws.send(
                json.dumps({"type": "subscribe", "channels": [channel], "since_seq": {channel: 0}})
            )
            async with asyncio.timeout(DEADLINE_S):
                reply = SERVER_MESSAGES.validate_json(await ws.recv())
                assert isinstance(reply, SubscribedMessage)
                while not received or received[-1].event != "backtest.finished":
                    message = SERVER_MESSAGES.validate_json(await ws.recv())
                    if isinstance(message, EventMessage):
                        received.append(message)

    events = [m.event for m in received]
    assert events[0] == "backtest.started"
    assert "backtest.progress" in events
    assert [m.seq for m in received] == list(range(1, len(received) + 1))
    progress = [m.data for m in received if m.event == "backtest.progress"]
    assert progress[0]["ticks"] >= 1
    assert progress[0]["total_ticks"] == 240
    end = received[-1].data
    assert end["id"] == run_id
    assert end["status"] == "completed"
    assert end["metrics"]["decisions"] == 240


async def test_delete_cancels_a_running_backtest(service: RunningService, recording: Path) -> None:
    long = request(recording, end=(LAST - timedelta(hours=3)).isoformat())
    async with service.client(FULL) as http:
        run_id = await start(http, long)
        response = await http.delete(f"{BACKTESTS}/{run_id}")
        run = (await http.get(f"{BACKTESTS}/{run_id}")).json()
        again = await http.delete(f"{BACKTESTS}/{run_id}")
        unknown = await http.delete(f"{BACKTESTS}/backtest-00000000-0000-0000-0000-000000000000")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert run["status"] == "cancelled"
    assert run["progress"] is None or run["progress"]["ticks"] < run["progress"]["total_ticks"]
    assert again.status_code == 409
    assert unknown.status_code == 404


async def test_only_the_full_token_starts_or_cancels(
    service: RunningService, recording: Path
) -> None:
    async with service.client(READ) as http:
        post = await http.post(BACKTESTS, json=request(recording))
        delete = await http.delete(f"{BACKTESTS}/backtest-00000000-0000-0000-0000-000000000000")
        listed = await http.get(BACKTESTS)

    assert post.status_code == 403
    assert delete.status_code == 403
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_a_bad_request_lists_its_problems_and_starts_nothing(
    service: RunningService, recording: Path
) -> None:
    backwards = request(
        recording, start=END.isoformat(), end=START.isoformat(), settings={"NOPE": 1}
    )
    async with service.client(FULL) as http:
        bad = await http.post(BACKTESTS, json=backwards)
        no_data = await http.post(BACKTESTS, json=request(recording, data_dir="/no/such/dir"))
        unknown_asset = await http.post(BACKTESTS, json=request(recording, assets=["DOGE"]))
        extra = await http.post(BACKTESTS, json=request(recording, leverage=3))
        listed = (await http.get(BACKTESTS)).json()

    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_backtest"
    lines = bad.json()["detail"].splitlines()
    assert f"start {END.isoformat()} is not before end {START.isoformat()}" in lines
    assert "settings NOPE: not a setting (see .env.example)" in lines
    assert no_data.status_code == 422
    assert "data_dir: /no/such/dir is not a directory" in no_data.json()["detail"]
    assert unknown_asset.status_code == 422
    assert "DOGE" in unknown_asset.json()["detail"]
    assert extra.status_code == 422
    assert listed["items"] == []


async def test_a_backtest_never_shows_in_the_account_records(
    service: RunningService, recording: Path
) -> None:
    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        assert (await ended(http, run_id))["status"] == "completed"
        account = "/api/v1/accounts/default"
        decisions = (await http.get(f"{account}/decisions")).json()
        fills = (await http.get(f"{account}/fills")).json()
        orders = (await http.get(f"{account}/orders")).json()

    assert decisions["items"] == []
    assert fills["items"] == []
    assert orders["items"] == []


async def test_a_third_concurrent_backtest_is_refused_with_429(
    service: RunningService, recording: Path
) -> None:
    long = request(recording, end=(LAST - timedelta(hours=3)).isoformat())
    async with service.client(FULL) as http:
        answers = await asyncio.gather(*(http.post(BACKTESTS, json=long) for _ in range(3)))
        started = [a.json()["id"] for a in answers if a.status_code == 202]
        for run_id in started:
            await http.delete(f"{BACKTESTS}/{run_id}")
        listed = (await http.get(BACKTESTS)).json()

    assert sorted(a.status_code for a in answers) == [202, 202, 429]
    refused = next(a for a in answers if a.status_code == 429).json()
    assert refused["error"] == "too_many_backtests"
    assert sorted(r["id"] for r in listed["items"]) == sorted(started)


async def test_shutdown_cancels_a_running_backtest(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, recording: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("API_TOKEN", FULL)
    long = request(recording, end=(LAST - timedelta(hours=3)).isoformat())
    async with serve() as running, running.client(FULL) as http:
        run_id = await start(http, long)

    engine = create_engine(normalise_database_url(postgres_url))
    try:
        async with session_scope(create_session_factory(engine)) as session:
            row = await session.get(BacktestRunRow, run_id)
            assert row is not None
            status, finished_at = row.status, row.finished_at
    finally:
        await engine.dispose()
    assert status == "cancelled"
    assert finished_at is not None


async def test_runs_round_trip_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(normalise_database_url(f"sqlite:///{tmp_path / 'runs.db'}"))
    try:
        await upgrade_to_head(engine)
        sessions = create_session_factory(engine)
        async with session_scope(sessions) as session:
            await store.add_run(
                session,
                "backtest-1",
                title=None,
                config={"a": 1},
                status="running",
                created_at=START,
            )
        async with session_scope(sessions) as session:
            await store.save_progress(session, "backtest-1", {"ticks": 1})
            await store.finish_run(
                session,
                "backtest-1",
                status="completed",
                finished_at=END,
                progress=None,
                notes=["n"],
                metrics={"trades": 0},
                results={"trades": [], "equity": [{"at": END.isoformat()}], "decisions": []},
            )
        async with session_scope(sessions) as session:
            row = await store.get_run(session, "backtest-1")
            rows, cursor = await store.list_runs(session, PageRequest())
            equity = await store.get_series(session, "backtest-1", "equity")
            missing = await store.get_series(session, "backtest-2", "equity")
    finally:
        await engine.dispose()

    assert row is not None
    assert (row.status, row.progress, row.notes, row.metrics) == (
        "completed",
        {"ticks": 1},
        ["n"],
        {"trades": 0},
    )
    assert row.finished_at == END
    assert [r.id for r in rows] == ["backtest-1"]
    assert cursor is None
    assert equity == (True, [{"at": END.isoformat()}])
    assert missing == (False, None)


async def test_a_finished_backtest_replays_to_its_own_trades(
    service: RunningService, recording: Path, tmp_path: Path
) -> None:
    """`replay-decisions --source backtest:ID` re-judges the stored decisions, no model."""
    from argparse import Namespace
    from io import StringIO

    from app.commands.replay_decisions import run_async

    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        assert (await ended(http, run_id))["status"] == "completed"
        trades = (await http.get(f"{BACKTESTS}/{run_id}/trades", params={"limit": 500})).json()
        decisions = (await http.get(f"{BACKTESTS}/{run_id}/decisions", params={"limit": 1})).json()
    assert decisions["items"][0]["legs"][0]["requested"]["symbol"]  # kept whole, replayable

    out = tmp_path / "comparison.json"
    printed = StringIO()
    args = Namespace(source=f"backtest:{run_id}", settings=[], data=None, out=out)
    assert await run_async(args, out=printed) == 0, printed.getvalue()
    comparison = json.loads(out.read_text())

    replayed = comparison["trades"]["replay"]

    def fills(rows: list[dict[str, Any]]) -> list[tuple[object, ...]]:
        return [
            (r["symbol"], r["side"], r["quantity"], r["price"], datetime.fromisoformat(r["at"]))
            for r in rows
        ]

    assert fills(replayed) == fills(trades["items"])
    assert replayed
    assert "settings changed: (none)" in printed.getvalue()

    tighter = Namespace(
        source=f"backtest:{run_id}", settings=["MAX_POSITION_SIZE_USD=500"], data=None, out=None
    )
    printed = StringIO()
    assert await run_async(tighter, out=printed) == 0
    assert "settings changed: MAX_POSITION_SIZE_USD=500" in printed.getvalue()


async def test_replaying_an_unknown_backtest_exits_2(
    service: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    from argparse import Namespace

    from app.commands.replay_decisions import run_async

    args = Namespace(source="backtest:backtest-nope", settings=[], data=None, out=None)
    assert await run_async(args) == 2
    assert "no such backtest" in capsys.readouterr().err


async def test_a_subscriber_after_the_end_gets_the_run_as_its_snapshot(
    service: RunningService, recording: Path
) -> None:
    from app.streaming.messages import SnapshotMessage

    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        run = await ended(http, run_id)
    channel = f"backtest.{run_id}"
    headers = {"Authorization": f"Bearer {READ}"}
    async with connect(service.ws_url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channels": [channel]}))
        async with asyncio.timeout(DEADLINE_S):
            assert isinstance(SERVER_MESSAGES.validate_json(await ws.recv()), SubscribedMessage)
            snapshot = SERVER_MESSAGES.validate_json(await ws.recv())

    assert isinstance(snapshot, SnapshotMessage)
    assert snapshot.channel == channel
    assert snapshot.data["status"] == "completed"
    assert snapshot.data["metrics"] == run["metrics"]


async def test_a_decision_replay_over_the_api_reproduces_then_re_judges(
    service: RunningService, recording: Path
) -> None:
    async with service.client(FULL) as http:
        run_id = await start(http, request(recording))
        original = await ended(http, run_id)
        trades = (await http.get(f"{BACKTESTS}/{run_id}/trades", params={"limit": 500})).json()

        same = await http.post(f"{BACKTESTS}/{run_id}/replay", json={})
        assert same.status_code == 202, same.text
        same_run = await ended(http, same.json()["id"])
        same_trades = (
            await http.get(f"{BACKTESTS}/{same_run['id']}/trades", params={"limit": 500})
        ).json()

        tighter = await http.post(
            f"{BACKTESTS}/{run_id}/replay", json={"settings": {"MAX_POSITION_SIZE_USD": 500}}
        )
        assert tighter.status_code == 202, tighter.text
        tighter_run = await ended(http, tighter.json()["id"])
        tighter_trades = (
            await http.get(f"{BACKTESTS}/{tighter_run['id']}/trades", params={"limit": 500})
        ).json()

        unknown = await http.post(f"{BACKTESTS}/backtest-nope/replay", json={})
        bad = await http.post(f"{BACKTESTS}/{run_id}/replay", json={"settings": {"NOPE": 1}})
    async with service.client(READ) as http:
        refused = await http.post(f"{BACKTESTS}/{run_id}/replay", json={})

    assert same_run["status"] == "completed"
    assert same_run["config"]["replay_of"] == run_id
    assert same_run["metrics"]["total_return_pct"] == original["metrics"]["total_return_pct"]
    assert same_trades["items"] == trades["items"]
    assert tighter_run["status"] == "completed"
    assert tighter_run["config"]["changed"] == {"MAX_POSITION_SIZE_USD": "500"}
    assert any(note.startswith("decision replay of") for note in tighter_run["notes"])
    for fill in tighter_trades["items"]:
        if fill["purpose"] == "entry":
            assert Decimal(fill["quantity"]) * Decimal(fill["price"]) <= Decimal(505)
    assert unknown.status_code == 404
    assert bad.status_code == 422
    assert "NOPE" in bad.text
    assert refused.status_code == 403
