"""/docs and /redoc render in a real browser that may not leave the machine.

The system Chromium (never a browser downloaded for the tests) opens the pages of the
service on loopback; every request to another host is aborted and recorded. Without
Chromium the tests skip locally, but with ``CI=true`` they fail: CI must render the docs.
"""

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
)
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.service import RunningService, serve

pytestmark = pytest.mark.browser

# ReDoc's bundle always loads the Redocly logo from a CDN; the page's Content-Security-Policy
# refuses it before it is sent, which Chromium reports on the console.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
RENDER_BUDGET_MS = 10_000


def chromium_path() -> str:
    """The system Chromium; skip without it, or fail when ``CI=true``."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "no `chromium` on PATH (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Chromium is required in CI: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=args
        )
        yield browser
        await browser.close()


@pytest.fixture
async def service() -> AsyncIterator[RunningService]:
    async with serve() as running:
        yield running


@dataclass
class Visit:
    """What one page did: requests that tried to leave loopback, failures, console errors."""

    left_loopback: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


async def visit(browser: Browser, url: str) -> tuple[Page, Visit]:
    """Open ``url`` in a fresh context where only 127.0.0.1 is reachable."""
    seen = Visit()
    context = await browser.new_context()
    page = await context.new_page()

    async def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            seen.left_loopback.append(route.request.url)
            await route.abort("internetdisconnected")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    def on_failed(request: Request) -> None:
        seen.failed.append(f"{request.url}: {request.failure}")

    await page.route("**/*", loopback_only)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.console_errors.append(f"uncaught: {error}"))
    page.on("requestfailed", on_failed)
    page.on(
        "response",
        lambda response: (
            seen.failed.append(f"{response.url}: HTTP {response.status}")
            if response.status >= 400
            else None
        ),
    )
    page.set_default_timeout(RENDER_BUDGET_MS)
    await page.goto(url, wait_until="networkidle")
    return page, seen


async def text_of(page: Page, seen: Visit, selector: str) -> str:
    """The text of ``selector`` once it shows (within the budget), else fail with ``seen``."""
    try:
        await page.wait_for_selector(selector)
    except PlaywrightTimeout:
        pytest.fail(f"{selector!r} never appeared on {page.url}: {seen}")
    return await page.inner_text(selector)


async def test_swagger_ui_renders_offline(browser: Browser, service: RunningService) -> None:
    page, seen = await visit(browser, f"{service.base_url}/docs")

    title = await text_of(page, seen, ".swagger-ui .information-container .title")
    await text_of(page, seen, ".swagger-ui .opblock-summary-path[data-path='/api/v1/status']")
    operations = await page.locator(".swagger-ui .opblock").count()
    await page.context.close()

    assert "trading-agent" in title
    assert operations >= 20
    assert seen == Visit()


async def test_redoc_renders_offline(browser: Browser, service: RunningService) -> None:
    page, seen = await visit(browser, f"{service.base_url}/redoc")

    title = await text_of(page, seen, ".api-info h1")
    await text_of(page, seen, "[data-section-id^='operation/']")
    operations = await page.locator("[data-section-id^='operation/']").count()
    await page.context.close()

    assert "trading-agent" in title
    assert operations >= 20
    assert seen.left_loopback == []
    # The one refusal is the page's policy at work: the logo never reaches the network.
    refused = [problem for problem in seen.failed + seen.console_errors if REDOCLY_LOGO in problem]
    assert [*seen.failed, *seen.console_errors] == refused
    assert any("csp" in problem for problem in seen.failed), seen.failed
