"""Which flow runs hold the concurrency slots of a work pool or work queue.

A run holds a slot while it is Pending or Running in a queue (Cancelling runs have been
told to stop and no longer count, as for the contract's worker scheduling). Runs are tied
to their queue by id; the pool's count is over the runs of all its queues.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_work_pools import WorkQueue

HOLDING = (StateType.PENDING.value, StateType.RUNNING.value)


def _pool_holders(workspace_id: uuid.UUID, pool_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(
        orm.FlowRun.workspace_id == workspace_id,
        orm.FlowRun.state_type.in_(HOLDING),
        WorkQueue.work_pool_id == pool_id,
    )


async def count_pool_holders(
    session: AsyncSession, workspace_id: uuid.UUID, pool_id: uuid.UUID
) -> tuple[int, dict[uuid.UUID, int]]:
    """Slots held in the pool: in all, and per queue."""
    rows = await session.execute(
        sa.select(orm.FlowRun.work_queue_id, sa.func.count())
        .join(WorkQueue, WorkQueue.id == orm.FlowRun.work_queue_id)
        .where(_pool_holders(workspace_id, pool_id))
        .group_by(orm.FlowRun.work_queue_id)
    )
    by_queue = {queue_id: int(count) for queue_id, count in rows if queue_id is not None}
    return sum(by_queue.values()), by_queue


async def read_pool_holders(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    pool_id: uuid.UUID,
    queue_ids: Sequence[uuid.UUID],
    per_queue: int,
) -> Sequence[orm.FlowRun]:
    """The slot-holding runs of these queues of the pool, at most ``per_queue`` of each,
    by id."""
    if not queue_ids or per_queue <= 0:
        return []
    rank = (
        sa.func.row_number()
        .over(partition_by=orm.FlowRun.work_queue_id, order_by=orm.FlowRun.id)
        .label("rank")
    )
    ranked = (
        sa.select(orm.FlowRun.id, rank)
        .join(WorkQueue, WorkQueue.id == orm.FlowRun.work_queue_id)
        .where(_pool_holders(workspace_id, pool_id), orm.FlowRun.work_queue_id.in_(queue_ids))
        .subquery()
    )
    query = (
        sa.select(orm.FlowRun)
        .join(ranked, ranked.c.id == orm.FlowRun.id)
        .where(ranked.c.rank <= per_queue)
        .order_by(orm.FlowRun.id)
    )
    return (await session.scalars(query)).all()


def _queue_holders(workspace_id: uuid.UUID, queue_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(
        orm.FlowRun.workspace_id == workspace_id,
        orm.FlowRun.work_queue_id == queue_id,
        orm.FlowRun.state_type.in_(HOLDING),
    )


async def count_queue_holders(
    session: AsyncSession, workspace_id: uuid.UUID, queue_id: uuid.UUID
) -> int:
    query = sa.select(sa.func.count()).where(_queue_holders(workspace_id, queue_id))
    return int(await session.scalar(query) or 0)


async def read_queue_holders(
    session: AsyncSession, workspace_id: uuid.UUID, queue_id: uuid.UUID, limit: int, offset: int
) -> Sequence[orm.FlowRun]:
    query = (
        sa.select(orm.FlowRun)
        .where(_queue_holders(workspace_id, queue_id))
        .order_by(orm.FlowRun.id)
        .limit(limit)
        .offset(offset)
    )
    return (await session.scalars(query)).all()
