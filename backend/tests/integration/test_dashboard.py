"""The web dashboard at ``/`` in a real browser, offline, on a service paper-trading the
bundled candles (``--replay``) into PostgreSQL.

Every page loads with no failed request and no console error; the chart shows candles and
the account's trades; a new decision reaches the feed within seconds; the read token sees no
control; pausing from the page pauses the agent (checked over REST); a dropped stream
reconnects and resumes from its last seq with no decision missing.

With ``DASHBOARD_SCREENSHOTS=<dir>`` the page tour also saves a screenshot of each page there
(``docs/dashboard`` holds the ones the README shows).
"""

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Route

from app.web import plotly_js
from tests.backtest.data import END as BACKTEST_END
from tests.backtest.data import START as BACKTEST_START
from tests.backtest.data import write_recording
from tests.browser import Visit, open_page
from tests.fakes.tcp_proxy import TcpProxy
from tests.service import REPLAY_TOKENS, RunningService, replay_service
from tests.waiting import until, until_checked

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
FULL, READ = REPLAY_TOKENS
ACCOUNT = "/api/v1/accounts/default"
PAGES = ("overview", "market", "positions", "decisions", "performance", "backtests")
# What shows that each page has drawn its data (not only its frame).
DRAWN = {
    "overview": "#overview-cards .card[data-account='default']",
    "market": "#market-chart[data-candles]:not([data-candles='0'])",
    "positions": "#positions-table tbody tr",
    "decisions": "#decision-feed li.decision",
    "performance": "#metrics td[data-metric='end_equity']",
    "backtests": "#backtests-table tbody tr",
}


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    # Four hourly cycles a second: the first trades within a few seconds.
    async with replay_service(postgres_url, monkeypatch, speed="14400") as running:
        yield running


async def rest(service: RunningService, path: str) -> Any:
    async with service.client(FULL) as http:
        response = await http.get(path)
        assert response.status_code == 200, response.text
        return response.json()


async def login(page: Page, base_url: str, token: str) -> None:
    await page.goto(f"{base_url}/")
    await page.fill("#token-input", token)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_selector("#stream[data-state='live']")


async def feed_ids(page: Page) -> list[str]:
    """The decisions the feed shows, top to bottom."""
    ids: list[str] = await page.eval_on_selector_all(
        "#decision-feed li.decision", "cards => cards.map(c => c.dataset.id)"
    )
    return ids


async def first_fill_symbol(service: RunningService) -> str:
    found: list[str] = []

    async def traded() -> bool:
        items = (await rest(service, f"{ACCOUNT}/fills?limit=1"))["items"]
        found[:] = [item["symbol"] for item in items]
        return bool(found)

    await until_checked(traded, "a first fill", within=60, every=0.1)
    return found[0]


async def finished_backtest(service: RunningService, tmp_path: Path) -> str:
    """A ten-day backtest started over the API, once it has ended; its id."""
    recording = write_recording(tmp_path / "recording")
    body = {
        "start": BACKTEST_START.isoformat(),
        "end": BACKTEST_END.isoformat(),
        "assets": ["BTC", "ETH"],
        "data_dir": str(recording),
        "title": "ten days",
    }
    async with service.client(FULL) as http:
        started = await http.post("/api/v1/backtests", json=body)
    assert started.status_code == 202, started.text
    run_id: str = started.json()["id"]

    async def finished() -> bool:
        run = await rest(service, f"/api/v1/backtests/{run_id}")
        return bool(run["status"] != "running")

    await until_checked(finished, "the backtest's end", within=120, every=0.2)
    return run_id


async def test_every_page_loads_offline_with_no_failed_request_or_console_error(
    browser: Browser, service: RunningService, tmp_path: Path
) -> None:
    await first_fill_symbol(service)  # something to show on every page
    run_id = await finished_backtest(service, tmp_path)
    context, page, seen = await open_page(browser)
    await login(page, service.base_url, FULL)
    shots = os.environ.get("DASHBOARD_SCREENSHOTS")
    leaks: dict[str, list[str]] = {}  # a missing value shown as JavaScript spells it
    for name in PAGES:
        await page.click(f"nav a[data-page='{name}']")
        await page.wait_for_selector(f"#page-{name}:not([hidden])")
        await page.wait_for_selector(DRAWN[name])
        if name == "backtests":  # its report too
            await page.click(f"#backtests-table tr[data-run='{run_id}']")
            await page.wait_for_selector("#backtest-equity[data-points]")
        shown = await page.inner_text(f"#page-{name}")
        leaks[name] = [word for word in ("undefined", "null", "NaN") if word in shown]
        if shots:
            await page.wait_for_timeout(300)  # plotly's transitions: a still picture
            await page.screenshot(path=str(Path(shots) / f"{name}.png"))
    access = await page.inner_text("#access")
    await context.close()

    assert access == "full control"
    assert seen == Visit(), seen
    assert leaks == {name: [] for name in PAGES}


async def test_chart_shows_candles_and_the_accounts_trades(
    browser: Browser, service: RunningService
) -> None:
    symbol = await first_fill_symbol(service)
    context, page, seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='market']")
    await page.select_option("#market-symbol", symbol)
    # Read in one go once this symbol's chart has its trades (it redraws as candles close).
    drawn = await page.wait_for_function(
        """(symbol) => {
            const chart = document.querySelector("#market-chart");
            if (chart.dataset.symbol !== symbol || !(+chart.dataset.markers >= 1)) return null;
            return {
                candles: +chart.dataset.candles,
                markers: +chart.dataset.markers,
                points: chart.querySelectorAll(".scatterlayer .point").length,
            };
        }""",
        arg=symbol,
    )
    shown = await drawn.json_value()
    candles, markers, drawn_points = shown["candles"], shown["markers"], shown["points"]
    await context.close()

    assert candles >= 50
    assert markers >= 1
    assert drawn_points >= markers  # the markers are on the chart, not only counted
    assert seen.console_errors == []


async def test_a_new_decision_reaches_the_feed_within_seconds(
    browser: Browser, service: RunningService
) -> None:
    context, page, _seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='decisions']")
    await page.wait_for_selector("#decision-feed li.decision")
    shown_first = await page.get_attribute("#decision-feed li.decision", "data-id")
    newer: list[str] = []

    async def decided_since() -> bool:
        items = (await rest(service, f"{ACCOUNT}/decisions?limit=1"))["items"]
        newer[:] = [item["id"] for item in items if item["id"] != shown_first]
        return bool(newer)

    await until_checked(decided_since, "a decision made after the page opened")
    # Within seconds of being recorded (and with its legs, not only an id).
    card = page.locator(f"#decision-feed li.decision[data-id='{newer[0]}']")
    await card.wait_for(timeout=5_000)
    legs = await card.locator("li.leg").count()
    await context.close()

    assert legs == 3  # BTC, ETH and SOL, each with its rationale


async def test_the_read_token_sees_no_controls(browser: Browser, service: RunningService) -> None:
    await first_fill_symbol(service)
    context, page, _seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.wait_for_selector("#overview-cards .card")
    controls_hidden = await page.locator("#controls").is_hidden()
    await page.click("nav a[data-page='positions']")
    await page.wait_for_selector("#positions-table tbody tr")
    buttons = await page.locator("[data-control]").count()
    access = await page.inner_text("#access")
    await context.close()

    assert controls_hidden
    assert buttons == 0
    assert access == "read only"


async def test_a_wrong_token_gets_a_clear_message_and_is_not_kept(
    browser: Browser, service: RunningService
) -> None:
    context, page, _seen = await open_page(browser)
    await page.goto(f"{service.base_url}/")
    await page.fill("#token-input", "not-the-token-0123456789")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#login-error:not(:empty)")
    message = await page.inner_text("#login-error")
    kept = await page.evaluate("() => sessionStorage.length")
    app_hidden = await page.locator("#app").is_hidden()
    await context.close()

    assert "not accepted" in message
    assert kept == 0
    assert app_hidden


async def test_pause_from_the_dashboard_pauses_the_agent(
    browser: Browser, service: RunningService
) -> None:
    context, page, _seen = await open_page(browser)
    await login(page, service.base_url, FULL)
    await page.wait_for_selector("#overview-cards .card[data-state='running']")

    # Cancelling the confirmation changes nothing.
    await page.click("#controls button[data-action='pause']")
    await page.click("#confirm button[value='cancel']")
    still = await rest(service, f"{ACCOUNT}/agent")
    await page.click("#controls button[data-action='pause']")
    question = await page.inner_text("#confirm-text")
    await page.click("#confirm-ok")
    await page.wait_for_selector("#overview-cards .card[data-state='paused']")
    paused = await rest(service, f"{ACCOUNT}/agent")
    await context.close()

    assert still["state"] == "running"
    assert "Pause the agent of default" in question
    assert paused["state"] == "paused"


async def test_the_kill_switch_with_flatten_halts_the_agent_and_closes_every_position(
    browser: Browser, service: RunningService
) -> None:
    async def holding() -> bool:
        return bool(await rest(service, f"{ACCOUNT}/positions"))

    await until_checked(holding, "an open position", within=60, every=0.1)
    context, page, _seen = await open_page(browser)
    await login(page, service.base_url, FULL)
    await page.wait_for_selector("#overview-cards .card[data-state='running']")
    await page.click("#controls button[data-action='kill']")
    flatten_offered = await page.locator("#confirm-flatten").is_visible()
    await page.check("#confirm-flatten")
    await page.click("#confirm-ok")
    await page.wait_for_selector("#overview-cards .card[data-state='halted']")
    agent = await rest(service, f"{ACCOUNT}/agent")
    positions = await rest(service, f"{ACCOUNT}/positions")
    working = await rest(service, f"{ACCOUNT}/orders?open=true")
    await context.close()

    assert flatten_offered
    assert agent["state"] == "halted"
    assert "kill switch from the dashboard" in agent["detail"]
    assert positions == []
    assert working["items"] == [], [
        (o["client_order_id"], o["status"], o["status_history"]) for o in working["items"]
    ]


async def test_a_dropped_stream_reconnects_and_resumes_without_gaps(
    browser: Browser, service: RunningService
) -> None:
    port = int(service.base_url.rsplit(":", 1)[1])
    async with TcpProxy("127.0.0.1", port) as proxy:
        context, page, _seen = await open_page(browser)
        await login(page, proxy.url_for(service.base_url), READ)
        await page.click("nav a[data-page='decisions']")
        await page.wait_for_selector("#decision-feed li.decision")
        opened = await rest(service, f"{ACCOUNT}/decisions?limit=1")
        since = opened["items"][0]["created_at"]

        await proxy.cut()
        await page.wait_for_selector("#stream[data-state='reconnecting']")
        banner = await page.locator("#reconnecting").is_visible()
        during = (await rest(service, f"{ACCOUNT}/decisions?limit=1"))["items"][0]["created_at"]

        async def two_more() -> bool:
            page_ = await rest(service, f"{ACCOUNT}/decisions?limit=5&start={during}")
            return len(page_["items"]) >= 3  # the one at the cut and two after it

        await until_checked(two_more, "decisions made while the stream is cut")
        await proxy.restore()
        await page.wait_for_selector("#stream[data-state='live']", timeout=15_000)
        async with service.client(FULL) as http:  # a fixed list of decisions to compare with
            assert (await http.post(f"{ACCOUNT}/agent/pause")).status_code == 200
        made = (await rest(service, f"{ACCOUNT}/decisions?limit=40&start={since}"))["items"]
        wanted = {item["id"] for item in made}

        async def all_shown() -> bool:
            shown = await feed_ids(page)
            return wanted <= set(shown)

        await until_checked(all_shown, "every decision made around the cut in the feed")
        stats = await page.eval_on_selector("#stream", "badge => ({...badge.dataset})")
        await context.close()

    assert banner
    assert len(wanted) >= 3
    assert int(stats["reconnects"]) >= 1
    assert int(stats["resumed"]) >= 1  # from its last seq, not a fresh snapshot
    assert stats["gaps"] == "0"


def test_the_page_names_no_host_but_its_own() -> None:
    """No CDN: every script and style the page loads is served by this service."""
    page = Path(__file__).parents[2] / "src" / "app" / "web" / "static" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text
    assert "https://" not in text
    assert "/static/vendor/plotly.min.js" in text


async def test_plotly_comes_from_the_installed_package(service: RunningService) -> None:
    async with httpx.AsyncClient(base_url=service.base_url) as http:
        page = await http.get("/")
        bundle = await http.get("/static/vendor/plotly.min.js")

    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert bundle.status_code == 200
    assert bundle.content == plotly_js().read_bytes()


async def test_older_decisions_page_in_below_the_live_ones_newest_first(
    browser: Browser, service: RunningService
) -> None:
    async def enough() -> bool:
        return len((await rest(service, f"{ACCOUNT}/decisions?limit=25"))["items"]) == 25

    await until_checked(enough, "25 decisions", within=60, every=0.2)
    async with service.client(FULL) as http:  # a fixed list to compare with
        assert (await http.post(f"{ACCOUNT}/agent/pause")).status_code == 200
    newest = [
        item["id"] for item in (await rest(service, f"{ACCOUNT}/decisions?limit=40"))["items"]
    ]
    context, page, seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='decisions']")

    async def shown(count: int) -> bool:
        ids = await feed_ids(page)
        return len(ids) >= count

    await until_checked(lambda: shown(20), "the first page of decisions")
    await page.click("#decisions-older")
    await until_checked(lambda: shown(min(len(newest), 40)), "the older page")
    ids = await feed_ids(page)
    await context.close()

    assert ids == newest[: len(ids)]  # the API's order: newest first, no gap, no repeat
    assert len(ids) == min(len(newest), 40)
    assert seen.console_errors == []


async def test_a_backtest_is_listed_and_its_report_drawn(
    browser: Browser, service: RunningService, tmp_path: Path
) -> None:
    run_id = await finished_backtest(service, tmp_path)
    context, page, seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='backtests']")
    await page.click(f"#backtests-table tr[data-run='{run_id}']")
    await page.wait_for_selector(f"#backtest-detail[data-run='{run_id}']")
    await page.wait_for_selector("#backtest-equity[data-points]")
    status = await page.get_attribute("#backtest-detail", "data-status")
    points = int(await page.get_attribute("#backtest-equity", "data-points") or 0)
    metric = await page.inner_text("#backtest-detail td[data-metric='total_return_pct']")
    run = await rest(service, f"/api/v1/backtests/{run_id}")
    await context.close()

    assert status == "completed"
    assert points == run["progress"]["ticks"]  # one point per cycle, every page of them
    assert metric == run["metrics"]["total_return_pct"]  # as the API sends it
    assert seen.console_errors == []


async def test_times_are_shown_in_the_browsers_zone_with_utc_on_hover(
    browser: Browser, service: RunningService
) -> None:
    await first_fill_symbol(service)
    async with service.client(FULL) as http:  # the same candles for both browsers
        assert (await http.post(f"{ACCOUNT}/agent/pause")).status_code == 200
    newest = (await rest(service, f"{ACCOUNT}/decisions?limit=1"))["items"][0]
    seen: dict[str, tuple[str, str, str]] = {}
    for zone in ("UTC", "Asia/Tokyo"):
        context, page, _seen = await open_page(browser, timezone=zone)
        await login(page, service.base_url, READ)
        await page.click("nav a[data-page='decisions']")
        stamp = page.locator(f"li.decision[data-id='{newest['id']}'] header time")
        await stamp.wait_for()
        shown, hover = await stamp.inner_text(), await stamp.get_attribute("title") or ""
        await page.click("nav a[data-page='market']")
        await page.wait_for_selector("#market-chart[data-candles]:not([data-candles='0'])")
        axis_end = await page.evaluate(
            "() => document.querySelector('#market-chart')._fullLayout.xaxis.range[1]"
        )
        seen[zone] = (shown, hover, axis_end)
        await context.close()

    hover_utc = f"{newest['created_at']} (UTC)"
    assert seen["UTC"][1] == seen["Asia/Tokyo"][1] == hover_utc
    assert seen["UTC"][0] != seen["Asia/Tokyo"][0]  # the same instant, each zone's wall time
    utc_end, tokyo_end = (datetime.fromisoformat(seen[z][2]) for z in ("UTC", "Asia/Tokyo"))
    assert tokyo_end - utc_end == timedelta(hours=9)  # the chart's axis too


async def test_a_symbol_answered_late_is_not_drawn_under_the_one_picked_after_it(
    browser: Browser, service: RunningService
) -> None:
    context, page, seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='market']")
    await page.wait_for_selector("#market-chart[data-candles]:not([data-candles='0'])")
    release = asyncio.Event()
    held: list[Request] = []

    async def slow_eth(route: Route) -> None:  # a slow answer for ETH's candles
        held.append(route.request)
        await release.wait()
        await route.continue_()

    await page.route("**/api/v1/market/ETHUSDT/candles*", slow_eth)
    await page.select_option("#market-symbol", "ETHUSDT")
    await until(lambda: bool(held), "the ETH candles asked for")
    await page.select_option("#market-symbol", "BTCUSDT")  # picked again before ETH answered

    async def drawn_btc() -> bool:
        return bool(await page.evaluate(PLOTTED_CLOSES)) and await is_btc(page, service)

    await until_checked(drawn_btc, "BTC's candles drawn")
    late = await page.evaluate(LATE_ANSWERS)
    release.set()  # ETH's answer arrives now, late
    await dropped_as_late(page, late)
    still_btc = await is_btc(page, service)
    picked = await page.input_value("#market-symbol")
    await context.close()

    assert picked == "BTCUSDT"
    assert still_btc  # the chart is BTC's, as the picker says, not ETH's late answer
    assert seen.console_errors == []


PLOTTED_CLOSES = "() => document.querySelector('#market-chart').data?.[0]?.close ?? []"
LATE_ANSWERS = "() => Number(document.body.dataset.lateAnswers ?? 0)"
"""How many answers the page has dropped as late (asked for before the choice after them)."""


async def dropped_as_late(page: Page, before: int) -> None:
    """Until the page has dropped one more late answer than ``before``: it has seen it."""
    await page.wait_for_function(
        "before => Number(document.body.dataset.lateAnswers ?? 0) > before", arg=before
    )


async def is_btc(page: Page, service: RunningService) -> bool:
    """Every close on the chart is one of BTCUSDT's (ETH trades 30 times lower)."""
    plotted = await page.evaluate(PLOTTED_CLOSES)
    series = await rest(service, "/api/v1/market/BTCUSDT/candles?interval=1h&limit=400")
    closes = {float(candle["close"]) for candle in series["candles"]}
    return bool(plotted) and set(plotted) <= closes


@pytest.fixture
async def two_accounts(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    async with replay_service(
        postgres_url,
        monkeypatch,
        speed="14400",
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="alpha,beta",
    ) as running:
        yield running


async def test_a_switch_of_account_never_shows_the_previous_accounts_decisions(
    browser: Browser, two_accounts: RunningService
) -> None:
    service = two_accounts

    async def decided(account: str) -> bool:
        path = f"/api/v1/accounts/{account}/decisions?limit=3"
        return len((await rest(service, path))["items"]) >= 3

    for account in ("alpha", "beta"):
        await until_checked(partial(decided, account), f"decisions of {account}", within=60)
    context, page, seen = await open_page(browser)
    release = asyncio.Event()
    held: list[Request] = []

    async def slow_alpha(route: Route) -> None:  # alpha's cards answered slowly
        held.append(route.request)
        await release.wait()
        await route.continue_()

    await page.route("**/api/v1/accounts/alpha/decisions/*", slow_alpha)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='decisions']")
    await until(lambda: bool(held), "alpha's first card asked for")
    await page.select_option("#account", "beta")
    await page.wait_for_selector("#decision-feed li.decision")
    late = await page.evaluate(LATE_ANSWERS)
    release.set()  # alpha's card arrives now, late
    await dropped_as_late(page, late)
    shown = set(await feed_ids(page))
    notice = await page.locator("#notice").is_visible()
    beta = {
        item["id"]
        for item in (await rest(service, "/api/v1/accounts/beta/decisions?limit=100"))["items"]
    }
    await context.close()

    assert shown
    assert shown <= beta  # beta's feed: none of alpha's cards
    assert not notice
    assert seen.failed == []


async def test_the_run_clicked_last_is_the_one_shown(
    browser: Browser, service: RunningService, tmp_path: Path
) -> None:
    first = await finished_backtest(service, tmp_path / "first")
    second = await finished_backtest(service, tmp_path / "second")
    context, page, seen = await open_page(browser)
    release = asyncio.Event()
    held: list[Request] = []

    async def slow_first(route: Route) -> None:  # the first run's report answered slowly
        held.append(route.request)
        await release.wait()
        await route.continue_()

    await page.route(f"**/api/v1/backtests/{first}", slow_first)
    await login(page, service.base_url, READ)
    await page.click("nav a[data-page='backtests']")
    await page.click(f"#backtests-table tr[data-run='{first}']")
    await until(lambda: bool(held), "the first run asked for")
    await page.click(f"#backtests-table tr[data-run='{second}']")
    await page.wait_for_selector(f"#backtest-detail[data-run='{second}']")
    late = await page.evaluate(LATE_ANSWERS)
    release.set()  # the first run's answer arrives now, late
    await dropped_as_late(page, late)
    shown = await page.get_attribute("#backtest-detail", "data-run")
    await context.close()

    assert shown == second
    assert seen.console_errors == []


async def test_the_overview_is_not_read_while_another_page_is_shown(
    browser: Browser, service: RunningService
) -> None:
    context, page, _seen = await open_page(browser)
    await login(page, service.base_url, READ)
    await page.wait_for_selector("#overview-cards .card")
    await page.click("nav a[data-page='decisions']")
    await page.wait_for_selector("#decision-feed li.decision")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    first = await page.get_attribute("#decision-feed li.decision", "data-id")

    async def cycles_later() -> bool:  # each cycle ticks the equity the overview listens to
        shown = await feed_ids(page)
        return len(shown[: shown.index(first)]) >= 3 if first in shown else False

    await until_checked(cycles_later, "three more cycles")
    hidden_reads = [url for url in asked if url.endswith("/overview")]
    await page.click("nav a[data-page='overview']")
    await page.wait_for_selector("#overview-cards .card")
    await until(lambda: any(url.endswith("/overview") for url in asked), "read again when shown")
    await context.close()

    assert hidden_reads == []


class SilentProxy:
    """A loopback proxy whose open streams can go silent: no byte passes either way and no
    close or reset arrives, like a network path that died (a laptop lid, a NAT timeout)."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._streams: list[dict[str, bool]] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> "SilentProxy":
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    def silence_streams(self) -> None:
        """Every open WebSocket connection passes nothing from now on (new ones do)."""
        for stream in self._streams:
            stream["silent"] = stream["websocket"]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self._target_port
        )
        self._writers += [writer, upstream_writer]
        stream = {"websocket": False, "silent": False}
        self._streams.append(stream)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    stream["websocket"] = stream["websocket"] or data.startswith(b"GET /ws ")
                    if not stream["silent"]:
                        sink.write(data)
                        await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))


async def test_a_silent_stream_counts_as_dropped_and_resumes_at_once(
    browser: Browser, service: RunningService
) -> None:
    port = int(service.base_url.rsplit(":", 1)[1])
    async with SilentProxy(port) as proxy:
        context, page, _seen = await open_page(browser)
        await page.clock.install()
        await login(page, f"http://127.0.0.1:{proxy.port}", READ)
        proxy.silence_streams()
        await page.clock.fast_forward("01:00")  # past the deadline: no heartbeat came
        # Back through a new connection within seconds, not once the dead one finishes
        # closing (a minute later, saying "live" all that time).
        await page.wait_for_selector("#stream[data-state='live'][data-reconnects='1']")
        stats = await page.eval_on_selector("#stream", "badge => ({...badge.dataset})")
        await context.close()

    assert stats["resumed"] == "1"  # from its last seqs
    assert stats["gaps"] == "0"


async def test_llm_costs_are_summed_exactly_as_decimal_strings(
    browser: Browser, service: RunningService
) -> None:
    """The feed's sum of several calls' costs: exact decimal arithmetic, never a float."""
    rng = random.Random(7)  # the same 200 cases every run
    drawn: list[list[str | None]] = [
        [
            format(Decimal(rng.randint(-(10**11), 10**11)).scaleb(-rng.randint(0, 8)), "f")
            for _ in range(rng.randint(1, 6))
        ]
        for _ in range(200)
    ]
    cases: list[list[str | None]] = [
        ["0.1", "0.2"],
        ["0.00000001", "0.00000002", "-0.00000003"],
        ["1.5", None, "2"],
        ["-0.5", "0.5"],
        *drawn,
    ]
    context, page, _seen = await open_page(browser)
    await page.goto(f"{service.base_url}/")
    sums = await page.evaluate(
        """async (cases) => {
            const { decimalSum } = await import("/static/dashboard/js/format.js");
            return cases.map((values) => decimalSum(values));
        }""",
        cases,
    )
    await context.close()

    for values, shown in zip(cases, sums, strict=True):
        exact = sum((Decimal(v) for v in values if v is not None), Decimal(0))
        assert Decimal(shown) == exact, (values, shown)
        assert shown == format(exact.normalize(), "f") or exact == 0, (values, shown)
