"""The server-side task cache: cache key -> the COMPLETED task-run state stored under it."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.queries.upsert import insert_or_update

# Keys longer than this are not cached: they would not fit a PostgreSQL btree index entry.
MAX_CACHE_KEY_BYTES = 2000


def cacheable(cache_key: str) -> bool:
    return len(cache_key.encode()) <= MAX_CACHE_KEY_BYTES


async def read_cached_state(
    session: AsyncSession, workspace_id: uuid.UUID, cache_key: str, now: dt.datetime
) -> orm.TaskRunState | None:
    """The state cached under ``cache_key`` unless it has expired. One statement."""
    entry = orm.TaskRunStateCache
    return await session.scalar(
        sa.select(orm.TaskRunState)
        .join(entry, entry.task_run_state_id == orm.TaskRunState.id)
        .where(
            entry.workspace_id == workspace_id,
            entry.cache_key == cache_key,
            sa.or_(entry.cache_expiration.is_(None), entry.cache_expiration > now),
            orm.TaskRunState.workspace_id == workspace_id,
        )
    )


async def create_cache_entry(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    cache_key: str,
    cache_expiration: dt.datetime | None,
    task_run_state_id: uuid.UUID,
) -> None:
    """Store ``task_run_state_id`` under ``cache_key``, replacing any older entry."""
    values = {
        "id": uuid.uuid4(),
        "workspace_id": workspace_id,
        "cache_key": cache_key,
        "cache_expiration": cache_expiration,
        "task_run_state_id": task_run_state_id,
        "created": utcnow(),
        "updated": utcnow(),
    }
    await session.execute(
        insert_or_update(
            session,
            orm.TaskRunStateCache,
            values,
            ["workspace_id", "cache_key"],
            ["cache_expiration", "task_run_state_id", "updated"],
        )
    )
