"""The trigger engine's state: buckets (counts within a window, proactive deadlines) and
firings (one row each, the claim that makes the actions run once).

On PostgreSQL a bucket is read ``FOR UPDATE``: two server processes counting events of
the same trigger wait for each other on its row, so exactly one sees the count reach the
threshold. Due proactive buckets are taken ``FOR UPDATE SKIP LOCKED``: each deadline is
checked by one process. On SQLite the single writer serialises everything already.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database.orm_automations import AutomationBucket, AutomationFiring
from flowyard.server.database.types import utcnow
from flowyard.server.queries.upsert import insert_ignore

FIRED = ("triggered", "resolved")


def _is_postgres(session: AsyncSession) -> bool:
    assert session.bind is not None
    return session.bind.dialect.name == "postgresql"


async def read_bucket(
    session: AsyncSession, automation_id: uuid.UUID, trigger_id: uuid.UUID, key: str
) -> AutomationBucket | None:
    query = sa.select(AutomationBucket).where(
        AutomationBucket.automation_id == automation_id,
        AutomationBucket.trigger_id == trigger_id,
        AutomationBucket.bucketing_key == key,
    )
    if _is_postgres(session):
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


async def open_bucket(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    automation_id: uuid.UUID,
    trigger_id: uuid.UUID,
    key: str,
    start: dt.datetime,
    end: dt.datetime,
) -> AutomationBucket:
    """The bucket, created empty for ``[start, end)`` unless another writer made it first."""
    now = utcnow()
    await session.execute(
        insert_ignore(
            session,
            AutomationBucket,
            {"id": uuid.uuid4(), "workspace_id": workspace_id, "automation_id": automation_id,
             "trigger_id": trigger_id, "bucketing_key": key, "start": start, "end": end,
             "count": 0, "last_event": None, "triggered": False, "created": now,
             "updated": now},
            ["automation_id", "trigger_id", "bucketing_key"],
        )
    )  # fmt: skip
    bucket = await read_bucket(session, automation_id, trigger_id, key)
    assert bucket is not None, "inserted just now, or by the writer that won"
    return bucket


async def delete_bucket(session: AsyncSession, bucket: AutomationBucket) -> None:
    # Through the ORM: the caller may have changed the row in this session already.
    await session.delete(bucket)
    await session.flush()


async def forget_automation_state(session: AsyncSession, automation_id: uuid.UUID) -> None:
    """Drop every bucket of an automation (its trigger changed or it was paused)."""
    await session.execute(
        sa.delete(AutomationBucket).where(AutomationBucket.automation_id == automation_id)
    )


async def due_buckets(
    session: AsyncSession, now: dt.datetime, limit: int = 500
) -> Sequence[AutomationBucket]:
    query = (
        sa.select(AutomationBucket)
        .where(AutomationBucket.end <= now)
        .order_by(AutomationBucket.end)
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return (await session.scalars(query.execution_options(populate_existing=True))).all()


async def claim_firing(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    automation_id: uuid.UUID,
    firing_key: str,
    state: str,
    triggering_event_id: uuid.UUID | None,
) -> uuid.UUID | None:
    """Insert the firing; its id, or None when another writer holds that key already."""
    firing_id = uuid.uuid4()
    now = utcnow()
    result = await session.execute(
        insert_ignore(
            session,
            AutomationFiring,
            {"id": firing_id, "workspace_id": workspace_id, "automation_id": automation_id,
             "firing_key": firing_key, "state": state,
             "triggering_event_id": triggering_event_id, "created": now, "updated": now},
            ["firing_key"],
        ).returning(AutomationFiring.id)
    )  # fmt: skip
    return result.scalar_one_or_none()


async def count_recent_firings(
    session: AsyncSession, automation_id: uuid.UUID, since: dt.datetime, states: Sequence[str]
) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(AutomationFiring)
        .where(
            AutomationFiring.automation_id == automation_id,
            AutomationFiring.created >= since,
            AutomationFiring.state.in_(states),
        )
    )
    return int(count or 0)


async def set_firing_state(session: AsyncSession, firing_id: uuid.UUID, state: str) -> None:
    await session.execute(
        sa.update(AutomationFiring).where(AutomationFiring.id == firing_id).values(state=state)
    )


async def read_firings(
    session: AsyncSession, automation_id: uuid.UUID
) -> Sequence[AutomationFiring]:
    query = (
        sa.select(AutomationFiring)
        .where(AutomationFiring.automation_id == automation_id)
        .order_by(AutomationFiring.created)
    )
    return (await session.scalars(query)).all()


async def workspace_account(session: AsyncSession, workspace_id: uuid.UUID) -> uuid.UUID | None:
    """The account owning ``workspace_id``: an action's request context needs both."""
    from flowyard.server.database.orm import Workspace

    return await session.scalar(sa.select(Workspace.account_id).where(Workspace.id == workspace_id))
