"""Work queues: addressed in their pool by name (``/work_pools/{pool}/queues/{name}``) or by
id (``/work_queues/{id}``, the form the official client uses inside a flow run, and the
older queue-centred routes); their status and the runs they hold.

A queue created without a pool (``POST /work_queues/``) goes to ``default-agent-pool``,
made on first use as the official server does. Every create, update and delete stores its
``prefect.work-queue.*`` event, with the queue's pool as related; pausing and resuming, and
the first poll that makes a queue READY, store the status event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence

from flowyard.schemas import core, filters
from flowyard.schemas import work_pools as schemas
from flowyard.server.database import wakeups
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import utcnow
from flowyard.server.errors import NotFound
from flowyard.server.operations import work_pools
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.work_pool_events import (
    QUEUE_EVENT_FIELDS,
    changes,
    emit_queue_lifecycle,
    emit_queue_status,
    snapshot,
)
from flowyard.server.queries import work_pools as queries
from flowyard.server.queries import work_queue_runs, workers

READ = permission("read", "work_queue")
CREATE = permission("create", "work_queue")
UPDATE = permission("update", "work_queue")
DELETE = permission("delete", "work_queue")
NOT_FOUND = "Work queue not found."
# The pool a queue created without one goes to (the official server's name for it).
DEFAULT_POOL_NAME = "default-agent-pool"


async def queue_schemas(tx: Tx, queues: Sequence[WorkQueue]) -> list[schemas.WorkQueue]:
    """Response models, with their pool's name, status and (when limited) active slots."""
    now = utcnow()
    pool_ids = {q.work_pool_id for q in queues}
    pools = {p.id: p for p in await workers.read_pools_by_id(tx.session, tx.workspace_id, pool_ids)}
    limited = [q.id for q in queues if q.concurrency_limit is not None]
    slots = await work_queue_runs.count_slot_holders(tx.session, tx.workspace_id, limited)
    out = []
    for queue in queues:
        pool = pools.get(queue.work_pool_id)
        model = schemas.WorkQueue.model_validate(queries.as_dict(queue))
        model.work_pool_name = pool.name if pool else None
        model.status = queries.queue_status(queue, bool(pool and pool.is_paused), now)
        if queue.concurrency_limit is not None:
            model.active_slots = slots.get(queue.id, 0)
        out.append(model)
    return out


async def _one(tx: Tx, queue: WorkQueue) -> schemas.WorkQueue:
    return (await queue_schemas(tx, [queue]))[0]


async def _by_id(tx: Tx, queue_id: uuid.UUID) -> tuple[WorkPool, WorkQueue]:
    queue = await queries.read_work_queue(tx.session, tx.workspace_id, queue_id)
    if queue is None:
        raise NotFound(NOT_FOUND)
    pool = await queries.read_work_pool(tx.session, tx.workspace_id, queue.work_pool_id)
    if pool is None:
        raise NotFound("Work pool not found.")
    return pool, queue


async def _in_pool(tx: Tx, pool_name: str, name: str) -> tuple[WorkPool, WorkQueue]:
    pool = await work_pools.pool_by_name(tx, pool_name)
    queue = await queries.read_work_queue_by_name(tx.session, pool, name)
    if queue is None:
        raise NotFound(f"Work queue {name!r} not found in work pool {pool_name!r}.")
    return pool, queue


# --- create, read, update, delete ---------------------------------------------------------


@operation(CREATE, writes=True)
async def create_work_queue(
    tx: Tx, create: schemas.WorkQueueCreate, pool_name: str | None = None
) -> schemas.WorkQueue:
    """A new queue in pool ``pool_name`` (else the one the body names, else the default
    pool, made if missing); Conflict when the pool has a queue of that name."""
    name = pool_name or create.work_pool_name or DEFAULT_POOL_NAME
    pool = await queries.read_work_pool_by_name(tx.session, tx.workspace_id, name)
    if pool is None and pool_name is None and create.work_pool_name is None:
        # Conflict: created by a concurrent request since we looked; that one is used.
        with contextlib.suppress(queries.WorkPoolConflict):
            await work_pools.create_work_pool(tx, schemas.WorkPoolCreate(name=name))
        pool = await queries.read_work_pool_by_name(tx.session, tx.workspace_id, name)
    if pool is None:
        raise NotFound(f"Work pool {name!r} not found.")
    queue = await queries.create_work_queue(tx.session, pool, create)
    emit_queue_lifecycle(tx, "created", queue, pool)
    return await _one(tx, queue)


@operation(READ)
async def read_work_queues(
    tx: Tx,
    queue_filter: filters.WorkQueueFilter | None,
    limit: int,
    offset: int = 0,
    pool_name: str | None = None,
) -> list[schemas.WorkQueue]:
    """Queues by priority, of every pool or of the one named."""
    pool = await work_pools.pool_by_name(tx, pool_name) if pool_name is not None else None
    conditions = queries.work_queue_conditions(tx.workspace_id, queue_filter, tx.dialect, pool)
    queues = await queries.read_work_queues(tx.session, conditions, limit, offset)
    return await queue_schemas(tx, queues)


@operation(READ)
async def read_work_queue(tx: Tx, queue_id: uuid.UUID) -> schemas.WorkQueue:
    return await _one(tx, (await _by_id(tx, queue_id))[1])


@operation(READ)
async def read_pool_work_queue(tx: Tx, pool_name: str, name: str) -> schemas.WorkQueue:
    return await _one(tx, (await _in_pool(tx, pool_name, name))[1])


@operation(READ)
async def read_work_queue_by_name(tx: Tx, name: str) -> schemas.WorkQueue:
    """The legacy lookup by name alone: the first queue of that name, by priority."""
    conditions = queries.work_queue_conditions(
        tx.workspace_id, filters.WorkQueueFilter(name=filters.NameFilter(any_=[name])), tx.dialect
    )
    queues = await queries.read_work_queues(tx.session, conditions, 1)
    if not queues:
        raise NotFound(f"Work queue {name!r} not found.")
    return await _one(tx, queues[0])


async def _update(
    tx: Tx, pool: WorkPool, queue: WorkQueue, update: schemas.WorkQueueUpdate
) -> None:
    before = snapshot(queue, QUEUE_EVENT_FIELDS)
    was_paused = queue.is_paused
    await queries.update_work_queue(tx.session, pool, queue, update)
    updates = changes(before, queue, QUEUE_EVENT_FIELDS)
    if updates:
        emit_queue_lifecycle(tx, "updated", queue, pool, updates)
    if queue.is_paused != was_paused:
        status = queries.queue_status(queue, pool.is_paused, utcnow())
        emit_queue_status(tx, queue, pool, status)
    wakeups.notify_after_commit(tx.session)  # a limit or pause lifted: runs may be taken


@operation(UPDATE, writes=True)
async def update_work_queue(tx: Tx, queue_id: uuid.UUID, update: schemas.WorkQueueUpdate) -> None:
    await _update(tx, *await _by_id(tx, queue_id), update)


@operation(UPDATE, writes=True)
async def update_pool_work_queue(
    tx: Tx, pool_name: str, name: str, update: schemas.WorkQueueUpdate
) -> None:
    await _update(tx, *await _in_pool(tx, pool_name, name), update)


async def _delete(tx: Tx, pool: WorkPool, queue: WorkQueue) -> None:
    await queries.delete_work_queue(tx.session, pool, queue)
    emit_queue_lifecycle(tx, "deleted", queue, pool)


@operation(DELETE, writes=True)
async def delete_work_queue(tx: Tx, queue_id: uuid.UUID) -> None:
    await _delete(tx, *await _by_id(tx, queue_id))


@operation(DELETE, writes=True)
async def delete_pool_work_queue(tx: Tx, pool_name: str, name: str) -> None:
    await _delete(tx, *await _in_pool(tx, pool_name, name))


# --- status and runs ---------------------------------------------------------------------


@operation(READ)
async def read_work_queue_status(tx: Tx, queue_id: uuid.UUID) -> schemas.WorkQueueStatusDetail:
    """Healthy when polled within the policy's window and with no Late run."""
    _, queue = await _by_id(tx, queue_id)
    late = await work_queue_runs.count_late_runs(tx.session, queue)
    policy = schemas.WorkQueueHealthPolicy()
    window = dt.timedelta(seconds=policy.maximum_seconds_since_last_polled or 60)
    recent = queue.last_polled is not None and queue.last_polled >= utcnow() - window
    return schemas.WorkQueueStatusDetail(
        healthy=bool(recent and not late),
        late_runs_count=late,
        last_polled=queue.last_polled,
        health_check_policy=policy,
    )


@operation(READ, writes=True)
async def read_work_queue_runs(
    tx: Tx,
    queue_id: uuid.UUID,
    scheduled_before: dt.datetime | None,
    limit: int,
    *,
    record_poll: bool = True,
) -> list[core.FlowRun]:
    """``POST /work_queues/{id}/get_runs``: the queue's due Scheduled runs, within its and its
    pool's concurrency limits (none while either is paused). A worker's call counts as a poll
    of the queue; the UI's (``record_poll=False``) does not."""
    pool, queue = await _by_id(tx, queue_id)
    if record_poll:
        await work_pools.record_poll(tx, pool, [queue], utcnow())
    found = await work_queue_runs.scheduled_flow_runs(
        tx.session, pool, [queue], scheduled_before=scheduled_before, scheduled_after=None,
        limit=limit,
    )  # fmt: skip
    return [item.flow_run for item in found]
