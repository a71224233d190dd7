"""What a worker polling a pool gets: its due Scheduled runs, queue by queue in priority
order, within the queues' and the pool's concurrency limits (runs Pending or Running in a
queue or pool occupy its slots). Nothing here claims a run: the worker does, by proposing
Pending through orchestration, which refuses a second claimer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import StateType
from flowyard.schemas.work_pools import WorkerFlowRunResponse
from flowyard.server.database import orm
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import utcnow
from flowyard.server.queries import flow_runs as flow_run_queries
from flowyard.server.queries.work_pools import ACTIVE_STATE_TYPES, active_slot_counts

SCHEDULED = StateType.SCHEDULED.value


async def polled_queues(
    session: AsyncSession, pool: WorkPool, queue_names: Sequence[str] | None
) -> list[WorkQueue]:
    """The pool's queues a poll covers (all of them when no names are given), by priority.
    Names that are not queues of the pool are ignored, as the official server does."""
    query = sa.select(WorkQueue).where(
        WorkQueue.workspace_id == pool.workspace_id, WorkQueue.work_pool_id == pool.id
    )
    if queue_names:
        query = query.where(WorkQueue.name.in_(list(queue_names)))
    query = query.order_by(WorkQueue.priority, WorkQueue.name)
    return list((await session.scalars(query)).all())


async def record_poll(
    session: AsyncSession, pool: WorkPool, queues: Sequence[WorkQueue], now: dt.datetime
) -> None:
    """A worker asked for work: the queues were polled now and the pool has a worker."""
    if queues:
        await session.execute(
            sa.update(WorkQueue)
            .where(
                WorkQueue.workspace_id == pool.workspace_id,
                WorkQueue.id.in_([q.id for q in queues]),
            )
            .values(last_polled=now, status="READY")
        )
    if not pool.is_paused and pool.status != "READY":
        await session.execute(
            sa.update(WorkPool)
            .where(WorkPool.workspace_id == pool.workspace_id, WorkPool.id == pool.id)
            .values(status="READY", last_transitioned_status_at=now)
        )


def _due(
    workspace_id: uuid.UUID,
    queue_ids: Sequence[uuid.UUID],
    scheduled_before: dt.datetime | None,
    scheduled_after: dt.datetime | None,
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [
        orm.FlowRun.workspace_id == workspace_id,
        orm.FlowRun.work_queue_id.in_(list(queue_ids)),
        orm.FlowRun.state_type == SCHEDULED,
    ]
    if scheduled_before is not None:
        conditions.append(orm.FlowRun.next_scheduled_start_time <= scheduled_before)
    if scheduled_after is not None:
        conditions.append(orm.FlowRun.next_scheduled_start_time >= scheduled_after)
    return conditions


async def _pool_active(session: AsyncSession, pool: WorkPool) -> int:
    queue_ids = sa.select(WorkQueue.id).where(
        WorkQueue.workspace_id == pool.workspace_id, WorkQueue.work_pool_id == pool.id
    )
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(orm.FlowRun)
        .where(
            orm.FlowRun.workspace_id == pool.workspace_id,
            orm.FlowRun.work_queue_id.in_(queue_ids),
            orm.FlowRun.state_type.in_(ACTIVE_STATE_TYPES),
        )
    )
    return int(count or 0)


async def scheduled_flow_runs(
    session: AsyncSession,
    pool: WorkPool,
    queues: Sequence[WorkQueue],
    *,
    scheduled_before: dt.datetime | None,
    scheduled_after: dt.datetime | None,
    limit: int | None,
) -> list[WorkerFlowRunResponse]:
    """Due Scheduled runs of the (unpaused) queues, highest priority first, then by time."""
    if pool.is_paused:
        return []
    open_queues = [q for q in queues if not q.is_paused]
    if not open_queues:
        return []
    budget = limit if limit is not None else 10_000
    if pool.concurrency_limit is not None:
        budget = min(budget, pool.concurrency_limit - await _pool_active(session, pool))
    limited = [q.id for q in open_queues if q.concurrency_limit is not None]
    active = await active_slot_counts(session, orm.FlowRun.work_queue_id, limited)
    now = utcnow()
    out: list[WorkerFlowRunResponse] = []
    for queue in open_queues:
        if budget <= 0:
            break
        room = budget
        if queue.concurrency_limit is not None:
            room = min(room, queue.concurrency_limit - active.get(queue.id, 0))
        if room <= 0:
            continue
        rows = await flow_run_queries.read_flow_runs(
            session,
            _due(pool.workspace_id, [queue.id], scheduled_before, scheduled_after),
            FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
            room,
        )
        for row in rows:
            run: core.FlowRun = flow_run_queries.flow_run_schema_from_row(row, now)
            out.append(
                WorkerFlowRunResponse(work_pool_id=pool.id, work_queue_id=queue.id, flow_run=run)
            )
        budget -= len(rows)
    return out


async def next_due_time(
    session: AsyncSession, queues: Sequence[WorkQueue], after: dt.datetime | None
) -> dt.datetime | None:
    """When the earliest Scheduled run of the (unpaused) queues is due, or None."""
    ids = [q.id for q in queues if not q.is_paused]
    if not ids:
        return None
    due = _due(queues[0].workspace_id, ids, None, after)  # a poll's queues share a pool
    return await session.scalar(
        sa.select(sa.func.min(orm.FlowRun.next_scheduled_start_time)).where(*due)
    )


async def count_late_runs(session: AsyncSession, queue: WorkQueue) -> int:
    """Runs of the queue the late-runs monitor has marked Late."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(orm.FlowRun)
        .where(
            orm.FlowRun.workspace_id == queue.workspace_id,
            orm.FlowRun.work_queue_id == queue.id,
            orm.FlowRun.state_type == SCHEDULED,
            orm.FlowRun.state_name == "Late",
        )
    )
    return int(count or 0)


async def count_slot_holders(
    session: AsyncSession, workspace_id: uuid.UUID, queue_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many runs (Pending or Running) hold a slot, per queue (none: left out)."""
    if not queue_ids:
        return {}
    rows = await session.execute(
        sa.select(orm.FlowRun.work_queue_id, sa.func.count())
        .where(
            orm.FlowRun.workspace_id == workspace_id,
            orm.FlowRun.work_queue_id.in_(list(queue_ids)),
            orm.FlowRun.state_type.in_(ACTIVE_STATE_TYPES),
        )
        .group_by(orm.FlowRun.work_queue_id)
    )
    return {queue_id: int(count) for queue_id, count in rows if queue_id is not None}
