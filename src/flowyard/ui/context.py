"""``PageDep``: what a page route needs to know about its request, resolved once.

The request context comes from the API's own dependency (``workspace_context``), so a page
and an API call from the same caller resolve the same workspace, actor and permissions;
pages hand ``page.ctx`` to operations and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from flowyard.server.api.dependencies import workspace_context
from flowyard.server.operations.context import RequestContext
from flowyard.server.operations.tenancy import read_workspace_name
from flowyard.ui.urls import WorkspaceUrls


@dataclass(frozen=True, slots=True)
class Page:
    request: Request
    ctx: RequestContext
    urls: WorkspaceUrls
    workspace_name: str
    csrf_token: str

    @property
    def is_partial_request(self) -> bool:
        """An htmx swap asks for a fragment; a history restore (back button after the
        cache expired) asks for the whole page."""
        headers = self.request.headers
        return "hx-request" in headers and "hx-history-restore-request" not in headers


async def page_context(
    request: Request, ctx: Annotated[RequestContext, Depends(workspace_context)]
) -> Page:
    in_workspace = "workspace_id" in request.path_params
    urls = WorkspaceUrls.of(
        ctx.account_id if in_workspace else None, ctx.workspace_id if in_workspace else None
    )
    name = await read_workspace_name(ctx.db, ctx.workspace_id)
    return Page(request, ctx, urls, name or "Workspace", request.state.csrf_token)


PageDep = Annotated[Page, Depends(page_context)]
