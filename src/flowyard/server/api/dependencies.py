"""What every route depends on: the database and the workspace the URL names.

Routes are mounted twice, under ``/api`` (the default workspace) and under
``/api/accounts/{account_id}/workspaces/{workspace_id}``; :func:`workspace_context` is
the one place that turns either URL into a workspace id, so no handler ever sees the
difference. Authorization (issue: the cloud layer) hooks in here too.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from flowyard.server.database.engine import Database
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import RequestContext

# The name routers know the request context by.
WorkspaceContext = RequestContext


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def workspace_context(request: HTTPConnection) -> RequestContext:
    # HTTPConnection, not Request: websocket routes resolve their workspace here too.
    state = request.app.state
    params = request.path_params
    if "workspace_id" not in params:
        return RequestContext(state.db, state.default_workspace_id, state.default_account_id)
    try:
        account_id = uuid.UUID(str(params["account_id"]))
        workspace_id = uuid.UUID(str(params["workspace_id"]))
    except ValueError:
        raise NotFound("Workspace not found.") from None
    from flowyard.server.queries import tenancy

    known = state.known_workspaces
    if (account_id, workspace_id) not in known:
        async with state.db.read() as session:
            if not await tenancy.workspace_belongs_to(session, workspace_id, account_id):
                raise NotFound("Workspace not found.")
        known.add((account_id, workspace_id))
    return RequestContext(state.db, workspace_id, account_id)


Ctx = Annotated[RequestContext, Depends(workspace_context)]
