"""The web dashboard at ``/``: static pages of this package, charts from an installed package.

No build step and no CDN: the page, its styles and its ES modules live in ``static/`` beside
this file, and plotly.js is the copy the installed ``plotly`` Python package ships, served
at :data:`PLOTLY_URL`. The page itself is public, like ``/docs``: it holds no data. Every
number comes from ``/api/v1`` and ``/ws`` with the token the trader pastes once (kept in the
tab's ``sessionStorage``, sent as a header or as the stream's first message, never in a URL
or a cookie).

Its Content-Security-Policy keeps every load and connection on this origin: a page that
tried to reach the internet would be refused by the browser before anything is sent.
"""

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL: Final = "/static/dashboard"
PLOTLY_URL: Final = "/static/vendor/plotly.min.js"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
"""plotly.js sets inline styles on the elements it draws, hence ``'unsafe-inline'`` for
styles only; scripts come from this origin alone."""

_STATIC: Final = files("app.web") / "static"


def plotly_js() -> Path:
    """The plotly.js bundle of the installed ``plotly`` package.

    Raises:
        FileNotFoundError: The package is installed without its bundle (a broken install):
            found at startup, not in a trader's browser.
    """
    bundle = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    if not bundle.is_file():
        raise FileNotFoundError(f"the plotly package has no plotly.js bundle at {bundle}")
    return bundle


def install_dashboard(app: FastAPI, *, url: str = "/") -> None:
    """Serve the dashboard at ``url`` and its files under :data:`STATIC_URL`."""
    index = (_STATIC / "index.html").read_text(encoding="utf-8")
    bundle = plotly_js()
    app.mount(STATIC_URL, StaticFiles(directory=str(_STATIC), check_dir=True), name="dashboard")

    @app.get(url, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return _locked(HTMLResponse(index, headers={"Cache-Control": "no-cache"}))

    @app.get(PLOTLY_URL, include_in_schema=False)
    async def plotly() -> FileResponse:
        # Versioned with the installed package: a browser may keep it a day.
        return FileResponse(
            bundle,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )


def _locked(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page
