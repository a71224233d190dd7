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
