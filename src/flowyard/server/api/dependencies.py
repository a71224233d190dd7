"""What every route depends on: the database and the workspace the URL names.

Routes are mounted twice, under ``/api`` (the default workspace) and under
``/api/accounts/{account_id}/workspaces/{workspace_id}``; :func:`workspace_context` is
the one place that turns either URL into a workspace id, so no handler ever sees the
difference. Authorization (issue: the cloud layer) hooks in here too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from flowyard.server.database.engine import Database


@dataclass(frozen=True, slots=True)
class WorkspaceContext:
    db: Database
    workspace_id: uuid.UUID
    account_id: uuid.UUID


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def workspace_context(request: HTTPConnection) -> WorkspaceContext:
    # HTTPConnection, not Request: websocket routes resolve their workspace here too.
    state = request.app.state
    params = request.path_params
    if "workspace_id" not in params:
        return WorkspaceContext(state.db, state.default_workspace_id, state.default_account_id)
    try:
        account_id = uuid.UUID(str(params["account_id"]))
        workspace_id = uuid.UUID(str(params["workspace_id"]))
    except ValueError:
        raise HTTPException(404, "Workspace not found.") from None
    from flowyard.server.queries import tenancy

    known = state.known_workspaces
    if (account_id, workspace_id) not in known:
        async with state.db.read() as session:
            if not await tenancy.workspace_belongs_to(session, workspace_id, account_id):
                raise HTTPException(404, "Workspace not found.")
        known.add((account_id, workspace_id))
    return WorkspaceContext(state.db, workspace_id, account_id)


Ctx = Annotated[WorkspaceContext, Depends(workspace_context)]
