"""``/docs``: Swagger UI over ``/api/openapi.json``, with its assets served by Flowyard.

FastAPI's own page loads Swagger UI's script and stylesheet from a CDN, so on a machine
without internet it is a blank page. The assets come from the ``swagger-ui-bundle-v2``
package (pinned in pyproject.toml: the Swagger UI release is the package's version) and are
served under ``/docs-assets/``. ReDoc is not served: it would need a second bundle for a
second view of the same document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs-assets"
OAUTH2_REDIRECT_URL = f"{DOCS_URL}/oauth2-redirect"


def swagger_ui_assets() -> Path:
    """The directory holding ``swagger-ui-bundle.js``, ``swagger-ui.css`` and the favicons."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(str(swagger_ui_path))


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets (the app is built with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_assets()), name="docs-assets")
    openapi_url = app.openapi_url or "/api/openapi.json"
    title = f"{app.title} - Swagger UI"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=title,
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            # No badge from the public validator: it would send the document's URL out.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
