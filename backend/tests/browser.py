"""Driving the system Chromium offline: launch it, open a page where only loopback answers.

Never a browser downloaded for the tests: Debian's ``chromium``. Without it the browser
tests skip locally, but with ``CI=true`` they fail: CI must run them.
"""

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
)
from playwright.async_api import TimeoutError as PlaywrightTimeout

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


@asynccontextmanager
async def launched() -> AsyncIterator[Browser]:
    """A headless system Chromium for the duration of the block."""
    executable = chromium_path()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=args
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Visit:
    """What one page did: requests that tried to leave loopback, failures, console errors."""

    left_loopback: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


async def open_page(
    browser: Browser, *, viewport: tuple[int, int] = (1400, 900), timezone: str = "UTC"
) -> tuple[BrowserContext, Page, Visit]:
    """A fresh context and page where only 127.0.0.1 is reachable, and what it records.

    ``timezone``: the browser's time zone (an IANA name), UTC unless a test asks.
    """
    seen = Visit()
    context = await browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, timezone_id=timezone
    )
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
    return context, page, seen


async def visit(browser: Browser, url: str) -> tuple[Page, Visit]:
    """Open ``url`` in a fresh loopback-only context, once the network is idle."""
    _context, page, seen = await open_page(browser)
    await page.goto(url, wait_until="networkidle")
    return page, seen


async def text_of(page: Page, seen: Visit, selector: str) -> str:
    """The text of ``selector`` once it shows (within the budget), else fail with ``seen``."""
    try:
        await page.wait_for_selector(selector)
    except PlaywrightTimeout:
        pytest.fail(f"{selector!r} never appeared on {page.url}: {seen}")
    return await page.inner_text(selector)
