"""/docs and /redoc render in a real browser that may not leave the machine.

The system Chromium (:mod:`tests.browser`) opens the pages of the service on loopback; every
request to another host is aborted and recorded.
"""

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.browser import Visit, text_of, visit
from tests.service import RunningService, serve

pytestmark = pytest.mark.browser

# ReDoc's bundle always loads the Redocly logo from a CDN; the page's Content-Security-Policy
# refuses it before it is sent, which Chromium reports on the console.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
async def service() -> AsyncIterator[RunningService]:
    async with serve() as running:
        yield running


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
