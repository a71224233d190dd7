"""The Jinja2 environment of the pages (autoescaped, strict about undefined names) and
the two ways to answer with it: a page (or its htmx fragment) and an error page."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from flowyard.ui import formatting
from flowyard.ui.assets import vendor_asset_present
from flowyard.ui.navigation import NAV
from flowyard.ui.states import state_look
from flowyard.ui.urls import WorkspaceUrls, static

if TYPE_CHECKING:
    import jinja2

    from flowyard.ui.context import Page


@functools.cache
def environment() -> jinja2.Environment:
    # Imported on first render, not with the app: embedded mode builds the app for the SDK
    # and never renders a page (jinja2 is a sixth of its import time).
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("flowyard.ui", "templates"),
        # Every value is escaped unless a template says otherwise: a flow, tag or parameter
        # named "<script>" prints as text.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = formatting.duration
    env.filters["timestamp"] = formatting.timestamp
    env.globals["percent"] = formatting.percent
    env.globals["state_look"] = state_look
    env.globals["static"] = static
    env.globals["nav_items"] = NAV
    env.globals["htmx_available"] = vendor_asset_present
    return env


def render(
    page: Page,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    nav: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` with ``context``; ``partial`` instead when htmx asks for a fragment."""
    name = partial if partial is not None and page.is_partial_request else template
    html = environment().get_template(name).render(
        page=page, urls=page.urls, workspace_name=page.workspace_name,
        csrf_token=page.csrf_token, nav=nav, **context,
    )  # fmt: skip
    # The same URL answers a page or a fragment: caches must keep them apart.
    return HTMLResponse(html, status_code=status_code, headers={"Vary": "HX-Request"})


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An error page that needs nothing from the database (it may be why we are here)."""
    params = request.path_params
    urls = WorkspaceUrls.of(params.get("account_id"), params.get("workspace_id"))
    html = environment().get_template("error.html").render(
        page=None, urls=urls, workspace_name="", nav="", status_code=status_code, message=message,
        csrf_token=getattr(request.state, "csrf_token", ""),
    )  # fmt: skip
    return HTMLResponse(html, status_code=status_code)
