"""``install_ui(app)``: the pages under ``/`` and ``/accounts/{a}/workspaces/{w}``, and the
static files (with the same security headers as the pages) under ``/ui-static``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from flowyard.ui.assets import STATIC_DIR
from flowyard.ui.pages import page_routers
from flowyard.ui.security import SECURITY_HEADERS
from flowyard.ui.urls import STATIC_PREFIX, WORKSPACE_PREFIX

# Assets change with the package version, not between requests.
STATIC_CACHE_CONTROL = "public, max-age=3600"


class _SecuredStatic:
    """Static files with the UI's security headers (an SVG or a script is a document too)."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                headers.append((b"cache-control", STATIC_CACHE_CONTROL.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)


def install_ui(app: FastAPI) -> None:
    app.mount(STATIC_PREFIX, _SecuredStatic(), name="ui-static")
    routers = page_routers()
    for prefix in ("", WORKSPACE_PREFIX):
        for router in routers:
            app.include_router(router, prefix=prefix, include_in_schema=False)
