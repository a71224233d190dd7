"""What every route depends on: its request context (the database, the workspace the URL
names, the actor and their permissions), handed to the operations it calls.

Routes are mounted twice, under ``/api`` (the default workspace) and under
``/api/accounts/{account_id}/workspaces/{workspace_id}``; :func:`workspace_context` is
the one place that turns either URL into a workspace id, so no handler ever sees the
difference. In single-user mode the actor is the local user with every permission; the cloud
layer resolves credentials to an actor and a role's permissions here, and the operations'
``@operation`` decorator checks them.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from flowyard.server.errors import NotFound
from flowyard.server.operations.context import RequestContext
from flowyard.server.operations.tenancy import workspace_belongs_to

# The name routers know the request context by.
WorkspaceContext = RequestContext


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
    known = state.known_workspaces
    if (account_id, workspace_id) not in known:
        if not await workspace_belongs_to(state.db, workspace_id, account_id):
            raise NotFound("Workspace not found.")
        known.add((account_id, workspace_id))
    return RequestContext(state.db, workspace_id, account_id)


Ctx = Annotated[RequestContext, Depends(workspace_context)]
