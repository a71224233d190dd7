"""Work pools and their queues: create, read, filter, update, delete, and the lookup that
links a deployment or a run to a queue (:func:`resolve_work_queue`).

Every pool has a queue named ``default`` made with it; ``work_pool.default_queue_id`` points
at it and it cannot be deleted. Statuses are derived when read: a pool is PAUSED when paused,
READY when a worker heartbeated within ``HEARTBEAT_GRACE`` of its interval, NOT_READY
otherwise; a queue is READY when polled within the last minute (and neither it nor its pool
is paused).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import filters
from flowyard.schemas.states import StateType
from flowyard.schemas.work_pools import (
    WorkPoolCreate,
    WorkPoolUpdate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from flowyard.server.database import orm
from flowyard.server.database.orm_work_pools import Worker, WorkPool, WorkQueue
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.errors import Conflict, NotFound
from flowyard.server.queries.filtering import Condition, compile_filter

DEFAULT_QUEUE_NAME = "default"
# A worker counts as alive for this many of its heartbeat intervals (the blockers report
# uses the same rule).
HEARTBEAT_GRACE = 3
DEFAULT_HEARTBEAT_SECONDS = 30.0
QUEUE_READY_SECONDS = 60.0
# Runs in these states occupy a slot of their queue's and pool's concurrency limits.
ACTIVE_STATE_TYPES = (StateType.PENDING.value, StateType.RUNNING.value)
TERMINAL_STATE_TYPES = (
    StateType.COMPLETED.value,
    StateType.FAILED.value,
    StateType.CANCELLED.value,
    StateType.CRASHED.value,
)


# A pool's or a queue's status, as the contract spells it.
Status = Literal["READY", "NOT_READY", "PAUSED"]


class WorkPoolNotFound(NotFound):
    """No pool (or queue) by that name (a 404 wherever it reaches a caller)."""


class WorkPoolConflict(Conflict):
    """A change refused because of the pool's state or what depends on it (409)."""


# --- pools -------------------------------------------------------------------------------


async def create_work_pool(
    session: AsyncSession, workspace_id: uuid.UUID, create: WorkPoolCreate
) -> WorkPool:
    """The new pool with its ``default`` queue; WorkPoolConflict when the name is taken."""
    taken = WorkPoolConflict(f"A work pool named {create.name!r} already exists.")
    if await read_work_pool_by_name(session, workspace_id, create.name) is not None:
        raise taken
    now = utcnow()
    pool = WorkPool(
        id=new_id(),
        workspace_id=workspace_id,
        created=now,
        updated=now,
        name=create.name,
        description=create.description,
        type=create.type,
        base_job_template=create.base_job_template,
        is_paused=create.is_paused,
        concurrency_limit=create.concurrency_limit,
        status="PAUSED" if create.is_paused else "NOT_READY",
        storage_configuration=create.storage_configuration or {},
    )
    queue = _new_queue(pool, WorkQueueCreate(name=DEFAULT_QUEUE_NAME), priority=1)
    pool.default_queue_id = queue.id
    # On PostgreSQL a concurrent create of the same name can pass the check above; the
    # unique constraint decides, and the loser gets the same 409 (not a 500). The savepoint
    # keeps the caller's transaction usable.
    try:
        async with session.begin_nested():
            session.add(pool)
            session.add(queue)
            await session.flush()
    except IntegrityError:
        raise taken from None
    return pool


def _new_queue(pool: WorkPool, create: WorkQueueCreate, priority: int) -> WorkQueue:
    now = utcnow()
    return WorkQueue(
        id=new_id(),
        workspace_id=pool.workspace_id,
        work_pool_id=pool.id,
        created=now,
        updated=now,
        name=create.name,
        description=create.description,
        priority=priority,
        concurrency_limit=create.concurrency_limit,
        is_paused=create.is_paused,
        status="NOT_READY",
        filter=create.filter,
    )


async def read_work_pool(
    session: AsyncSession, workspace_id: uuid.UUID, pool_id: uuid.UUID
) -> WorkPool | None:
    return await session.scalar(
        sa.select(WorkPool).where(WorkPool.workspace_id == workspace_id, WorkPool.id == pool_id)
    )


async def read_work_pool_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, name: str
) -> WorkPool | None:
    return await session.scalar(
        sa.select(WorkPool).where(WorkPool.workspace_id == workspace_id, WorkPool.name == name)
    )


async def require_work_pool(session: AsyncSession, workspace_id: uuid.UUID, name: str) -> WorkPool:
    pool = await read_work_pool_by_name(session, workspace_id, name)
    if pool is None:
        raise WorkPoolNotFound(f"Work pool {name!r} not found.")
    return pool


def work_pool_conditions(
    workspace_id: uuid.UUID, pool_filter: filters.WorkPoolFilter | None, dialect: str
) -> list[Condition]:
    return [WorkPool.workspace_id == workspace_id, *compile_filter(pool_filter, WorkPool, dialect)]


async def read_work_pools(
    session: AsyncSession, conditions: Sequence[Condition], limit: int | None, offset: int = 0
) -> Sequence[WorkPool]:
    query = sa.select(WorkPool).where(*conditions).order_by(WorkPool.name, WorkPool.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_work_pools(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(WorkPool).where(*conditions)
    return await session.scalar(query) or 0


async def update_work_pool(session: AsyncSession, pool: WorkPool, update: WorkPoolUpdate) -> None:
    values = update.model_dump(exclude_unset=True)
    for key in ("is_paused", "base_job_template", "storage_configuration"):
        if key in values and values[key] is None:
            del values[key]  # columns that hold no NULL: an explicit null changes nothing
    for key, value in values.items():
        setattr(pool, key, value)
    if "is_paused" in values:
        pool.status = "PAUSED" if pool.is_paused else "NOT_READY"
        pool.last_transitioned_status_at = utcnow()
    pool.updated = utcnow()
    await session.flush()


async def pool_dependents(session: AsyncSession, pool: WorkPool) -> tuple[int, list[str]]:
    """How many runs of the pool are not finished, and the names of the deployments that
    send runs to it (what deleting it would strand)."""
    active = await session.scalar(
        sa.select(sa.func.count())
        .select_from(orm.FlowRun)
        .where(
            orm.FlowRun.workspace_id == pool.workspace_id,
            sa.or_(
                orm.FlowRun.work_pool_id == pool.id,
                orm.FlowRun.work_queue_id.in_(
                    sa.select(WorkQueue.id).where(WorkQueue.work_pool_id == pool.id)
                ),
            ),
            sa.or_(
                orm.FlowRun.state_type.is_(None),
                orm.FlowRun.state_type.not_in(TERMINAL_STATE_TYPES),
            ),
        )
    )
    deployments: list[str] = []
    table = orm.Base.metadata.tables.get("deployment")
    if table is not None and "work_queue_id" in table.c and "name" in table.c:
        queue_ids = sa.select(WorkQueue.id).where(WorkQueue.work_pool_id == pool.id)
        rows = await session.execute(
            sa.select(table.c.name)
            .where(table.c.workspace_id == pool.workspace_id, table.c.work_queue_id.in_(queue_ids))
            .order_by(table.c.name)
        )
        deployments = [row[0] for row in rows]
    return int(active or 0), deployments


async def delete_work_pool(session: AsyncSession, pool: WorkPool) -> None:
    """Delete the pool with its queues and workers; WorkPoolConflict while runs of it are
    unfinished (the message names how many and the deployments that use the pool)."""
    active, deployments = await pool_dependents(session, pool)
    if active:
        used_by = f"; deployments using it: {', '.join(deployments)}" if deployments else ""
        raise WorkPoolConflict(
            f"Work pool {pool.name!r} has {active} flow run(s) that are not finished"
            f"{used_by}. Cancel or delete them first."
        )
    mine = pool.workspace_id
    await session.execute(
        sa.delete(WorkQueue).where(
            WorkQueue.workspace_id == mine, WorkQueue.work_pool_id == pool.id
        )
    )
    await session.execute(
        sa.delete(Worker).where(Worker.workspace_id == mine, Worker.work_pool_id == pool.id)
    )
    await session.execute(
        sa.delete(WorkPool).where(WorkPool.workspace_id == mine, WorkPool.id == pool.id)
    )


# --- queues ------------------------------------------------------------------------------


async def resolve_work_queue(
    session: AsyncSession, workspace_id: uuid.UUID, pool_name: str, queue_name: str | None
) -> WorkQueue:
    """The queue named ``queue_name`` in pool ``pool_name`` (the pool's default queue when
    ``queue_name`` is None). Raises WorkPoolNotFound (a 404 naming the pool or queue) when
    either does not exist: pools are never created implicitly."""
    pool = await require_work_pool(session, workspace_id, pool_name)
    if queue_name is None:
        queue = None
        if pool.default_queue_id is not None:
            queue = await read_work_queue(session, workspace_id, pool.default_queue_id)
        if queue is None:  # a pool whose default queue went missing: any of its queues
            queue = await session.scalar(
                sa.select(WorkQueue)
                .where(WorkQueue.workspace_id == workspace_id, WorkQueue.work_pool_id == pool.id)
                .order_by(WorkQueue.priority, WorkQueue.name)
            )
        if queue is None:
            raise WorkPoolNotFound(f"Work pool {pool_name!r} has no queue.")
        return queue
    queue = await read_work_queue_by_name(session, pool, queue_name)
    if queue is None:
        raise WorkPoolNotFound(f"Work queue {queue_name!r} not found in work pool {pool_name!r}.")
    return queue


async def read_work_queue(
    session: AsyncSession, workspace_id: uuid.UUID, queue_id: uuid.UUID
) -> WorkQueue | None:
    return await session.scalar(
        sa.select(WorkQueue).where(WorkQueue.workspace_id == workspace_id, WorkQueue.id == queue_id)
    )


async def read_work_queue_by_name(
    session: AsyncSession, pool: WorkPool, name: str
) -> WorkQueue | None:
    return await session.scalar(
        sa.select(WorkQueue).where(
            WorkQueue.workspace_id == pool.workspace_id,
            WorkQueue.work_pool_id == pool.id,
            WorkQueue.name == name,
        )
    )


async def create_work_queue(
    session: AsyncSession, pool: WorkPool, create: WorkQueueCreate
) -> WorkQueue:
    """A new queue in ``pool``; without a priority it goes after the pool's others.
    WorkPoolConflict when the pool has a queue of that name."""
    taken = WorkPoolConflict(
        f"A work queue named {create.name!r} already exists in work pool {pool.name!r}."
    )
    if await read_work_queue_by_name(session, pool, create.name) is not None:
        raise taken
    priority = create.priority
    if priority is None:
        highest = await session.scalar(
            sa.select(sa.func.max(WorkQueue.priority)).where(
                WorkQueue.workspace_id == pool.workspace_id, WorkQueue.work_pool_id == pool.id
            )
        )
        priority = int(highest or 0) + 1
    queue = _new_queue(pool, create, priority)
    # As for pools: a concurrent create of the same name loses on the unique constraint.
    try:
        async with session.begin_nested():
            session.add(queue)
            await session.flush()
    except IntegrityError:
        raise taken from None
    return queue


def work_queue_conditions(
    workspace_id: uuid.UUID,
    queue_filter: filters.WorkQueueFilter | None,
    dialect: str,
    pool: WorkPool | None = None,
) -> list[Condition]:
    out = [
        WorkQueue.workspace_id == workspace_id,
        *compile_filter(queue_filter, WorkQueue, dialect),
    ]
    if pool is not None:
        out.append(WorkQueue.work_pool_id == pool.id)
    return out


async def read_work_queues(
    session: AsyncSession, conditions: Sequence[Condition], limit: int | None, offset: int = 0
) -> Sequence[WorkQueue]:
    query = (
        sa.select(WorkQueue)
        .where(*conditions)
        .order_by(WorkQueue.priority, WorkQueue.name, WorkQueue.id)
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_work_queue(
    session: AsyncSession, pool: WorkPool, queue: WorkQueue, update: WorkQueueUpdate
) -> None:
    values = update.model_dump(exclude_unset=True)
    for key in ("name", "is_paused", "priority"):
        if key in values and values[key] is None:
            del values[key]
    new_name = values.get("name")
    if new_name and new_name != queue.name:
        if queue.id == pool.default_queue_id:
            raise WorkPoolConflict("name: the default queue of a work pool cannot be renamed.")
        if await read_work_queue_by_name(session, pool, new_name) is not None:
            raise WorkPoolConflict(
                f"A work queue named {new_name!r} already exists in work pool {pool.name!r}."
            )
    for key, value in values.items():
        setattr(queue, key, value)
    queue.updated = utcnow()
    await session.flush()


async def delete_work_queue(session: AsyncSession, pool: WorkPool, queue: WorkQueue) -> None:
    if queue.id == pool.default_queue_id:
        raise WorkPoolConflict("The default queue of a work pool cannot be deleted.")
    await session.execute(
        sa.delete(WorkQueue).where(
            WorkQueue.workspace_id == pool.workspace_id, WorkQueue.id == queue.id
        )
    )


async def read_filtered_work_queues(
    session: AsyncSession, workspace_id: uuid.UUID
) -> Sequence[WorkQueue]:
    """The queues of the workspace that carry a legacy tag filter (``filter``)."""
    query = (
        sa.select(WorkQueue)
        .where(WorkQueue.workspace_id == workspace_id, WorkQueue.filter.is_not(None))
        .order_by(WorkQueue.priority, WorkQueue.name, WorkQueue.id)
    )
    return (await session.scalars(query)).all()


async def read_pool_names(
    session: AsyncSession, workspace_id: uuid.UUID, pool_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not pool_ids:
        return {}
    rows = await session.execute(
        sa.select(WorkPool.id, WorkPool.name).where(
            WorkPool.workspace_id == workspace_id, WorkPool.id.in_(pool_ids)
        )
    )
    return {row[0]: row[1] for row in rows}


# --- statuses ----------------------------------------------------------------------------


def worker_alive(worker: Worker, now: dt.datetime) -> bool:
    if worker.last_heartbeat_time is None:
        return False
    every = float(worker.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS)
    return worker.last_heartbeat_time >= now - dt.timedelta(seconds=HEARTBEAT_GRACE * every)


async def pool_statuses(
    session: AsyncSession, pools: Sequence[WorkPool], now: dt.datetime | None = None
) -> dict[uuid.UUID, Status]:
    """READY / NOT_READY / PAUSED for each pool, from its workers' heartbeats."""
    now = now or utcnow()
    ids = [pool.id for pool in pools if not pool.is_paused]
    ready: set[uuid.UUID] = set()
    if ids:
        workers = (
            await session.scalars(sa.select(Worker).where(Worker.work_pool_id.in_(ids)))
        ).all()
        ready = {w.work_pool_id for w in workers if worker_alive(w, now)}
    return {
        pool.id: "PAUSED" if pool.is_paused else ("READY" if pool.id in ready else "NOT_READY")
        for pool in pools
    }


def queue_status(queue: WorkQueue, pool_paused: bool, now: dt.datetime) -> Status:
    if queue.is_paused or pool_paused:
        return "PAUSED"
    recent = now - dt.timedelta(seconds=QUEUE_READY_SECONDS)
    return "READY" if queue.last_polled is not None and queue.last_polled >= recent else "NOT_READY"


async def active_slot_counts(
    session: AsyncSession, column: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Runs Pending or Running per queue (``column`` = work_queue_id) or per pool."""
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(column, sa.func.count())
        .where(column.in_(ids), orm.FlowRun.state_type.in_(ACTIVE_STATE_TYPES))
        .group_by(column)
    )
    return {row[0]: int(row[1]) for row in rows}


def as_dict(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in sa.inspect(row).mapper.column_attrs}


async def count_work_queues(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(WorkQueue).where(*conditions)
    return int(await session.scalar(query) or 0)
