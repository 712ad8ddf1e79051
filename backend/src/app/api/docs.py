"""``/docs`` (Swagger UI) and ``/redoc`` served from an installed package, never from a CDN.

FastAPI's own pages load their scripts and styles from a CDN, so they stay blank on a
machine without internet. These pages load the copies shipped in the ``fastapi_offline``
wheel instead, mounted at :data:`STATIC_URL`. Like ``/openapi.json`` they need no token;
**Authorize** on the page sends one to the API.

Their Content-Security-Policy keeps every load on this origin: ReDoc's bundle always asks a
CDN for the Redocly logo, and with it the browser refuses that request instead of sending it
(the logo then hides itself).
"""

from importlib.resources import files
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL: Final = "/static/docs"
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:"
)


def install_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the interactive API docs; create ``app`` with ``docs_url=redoc_url=None``."""
    # check_dir: a release of the package without its files fails at startup, not in a browser.
    static = StaticFiles(directory=str(files("fastapi_offline") / "static"), check_dir=True)
    app.mount(STATIC_URL, static, name="docs-static")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return _locked(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return _locked(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def _locked(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
