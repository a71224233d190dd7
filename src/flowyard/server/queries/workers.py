"""Workers of a pool: heartbeats (which make the pool READY), listing, removal; and the
per-pool counts the pool responses show."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import work_pools as schemas
from flowyard.server.database import orm
from flowyard.server.database.orm_work_pools import Worker, WorkPool, WorkQueue
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.queries.upsert import insert_or_update
from flowyard.server.queries.work_pools import ACTIVE_STATE_TYPES, worker_alive


async def record_heartbeat(
    session: AsyncSession, pool: WorkPool, beat: schemas.WorkerHeartbeat
) -> uuid.UUID:
    """Create or refresh the worker named in the beat; the worker's id."""
    now = utcnow()
    values = {
        "id": new_id(),
        "workspace_id": pool.workspace_id,
        "created": now,
        "updated": now,
        "work_pool_id": pool.id,
        "name": beat.name,
        "last_heartbeat_time": now,
        "heartbeat_interval_seconds": beat.heartbeat_interval_seconds,
        "status": "ONLINE",
    }
    update = ["updated", "last_heartbeat_time", "heartbeat_interval_seconds", "status"]
    await session.execute(
        insert_or_update(session, Worker, values, ["work_pool_id", "name"], update)
    )
    if not pool.is_paused and pool.status != "READY":
        pool.status = "READY"
        pool.last_transitioned_status_at = now
        await session.flush()
    worker_id = await session.scalar(
        sa.select(Worker.id).where(
            Worker.workspace_id == pool.workspace_id,
            Worker.work_pool_id == pool.id,
            Worker.name == beat.name,
        )
    )
    assert worker_id is not None
    return worker_id


def worker_schema(worker: Worker) -> schemas.Worker:
    status = "ONLINE" if worker_alive(worker, utcnow()) else "OFFLINE"
    return schemas.Worker(
        id=worker.id,
        created=worker.created,
        updated=worker.updated,
        name=worker.name,
        work_pool_id=worker.work_pool_id,
        last_heartbeat_time=worker.last_heartbeat_time,
        heartbeat_interval_seconds=worker.heartbeat_interval_seconds,
        status=status,
    )


async def read_workers(
    session: AsyncSession,
    pool: WorkPool,
    worker_filter: schemas.WorkerFilter | None,
    limit: int | None,
    offset: int = 0,
) -> list[schemas.Worker]:
    """The pool's workers, most recent heartbeat first. Status (ONLINE/OFFLINE) is derived
    from the heartbeat, so it is filtered after reading."""
    query = sa.select(Worker).where(
        Worker.workspace_id == pool.workspace_id, Worker.work_pool_id == pool.id
    )
    beat = worker_filter.last_heartbeat_time if worker_filter else None
    if beat is not None and beat.before_ is not None:
        query = query.where(Worker.last_heartbeat_time <= beat.before_)
    if beat is not None and beat.after_ is not None:
        query = query.where(Worker.last_heartbeat_time >= beat.after_)
    query = query.order_by(Worker.last_heartbeat_time.desc().nulls_last(), Worker.name)
    models = [worker_schema(w) for w in (await session.scalars(query)).all()]
    status = worker_filter.status if worker_filter else None
    if status is not None and status.any_ is not None:
        models = [m for m in models if m.status in status.any_]
    if status is not None and status.not_any_ is not None:
        models = [m for m in models if m.status not in status.not_any_]
    end = None if limit is None else offset + limit
    return models[offset:end]


async def delete_worker(session: AsyncSession, pool: WorkPool, name: str) -> bool:
    result = await session.execute(
        sa.delete(Worker).where(
            Worker.workspace_id == pool.workspace_id,
            Worker.work_pool_id == pool.id,
            Worker.name == name,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def read_pools_by_id(
    session: AsyncSession, workspace_id: uuid.UUID, pool_ids: set[uuid.UUID]
) -> Sequence[WorkPool]:
    if not pool_ids:
        return []
    query = sa.select(WorkPool).where(
        WorkPool.workspace_id == workspace_id, WorkPool.id.in_(pool_ids)
    )
    return (await session.scalars(query)).all()


async def pool_active_slots(
    session: AsyncSession, pool_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Runs Pending or Running in each pool's queues."""
    if not pool_ids:
        return {}
    rows = await session.execute(
        sa.select(WorkQueue.work_pool_id, sa.func.count())
        .select_from(orm.FlowRun)
        .join(WorkQueue, WorkQueue.id == orm.FlowRun.work_queue_id)
        .where(
            WorkQueue.work_pool_id.in_(list(pool_ids)),
            orm.FlowRun.state_type.in_(ACTIVE_STATE_TYPES),
        )
        .group_by(WorkQueue.work_pool_id)
    )
    return {row[0]: int(row[1]) for row in rows}


async def last_heartbeats(
    session: AsyncSession, workspace_id: uuid.UUID, pool_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dt.datetime]:
    """Each pool's latest worker heartbeat (its last poll); pools no worker ever polled are
    absent. One grouped query for all the pools."""
    if not pool_ids:
        return {}
    rows = await session.execute(
        sa.select(Worker.work_pool_id, sa.func.max(Worker.last_heartbeat_time))
        .where(Worker.workspace_id == workspace_id, Worker.work_pool_id.in_(pool_ids))
        .group_by(Worker.work_pool_id)
    )
    return {pool_id: at for pool_id, at in rows if at is not None}
