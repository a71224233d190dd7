"""Which workspace a request is in: resolved before any operation runs, so these are plain
functions of the database rather than permission-checked operations."""

from __future__ import annotations

import uuid

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy


async def workspace_belongs_to(
    db: Database, workspace_id: uuid.UUID, account_id: uuid.UUID
) -> bool:
    async with db.read() as session:
        return await tenancy.workspace_belongs_to(session, workspace_id, account_id)


async def read_workspace_name(db: Database, workspace_id: uuid.UUID) -> str | None:
    """The name pages show at the top (resolved with the workspace, like the above)."""
    async with db.read() as session:
        return await tenancy.read_workspace_name(session, workspace_id)
