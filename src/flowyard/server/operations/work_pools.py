"""Work pools: create, read, filter, count, update, delete, and the poll workers take runs
from.

A pool is made with its ``default`` queue. Every create, update and delete stores its
``prefect.work-pool.*`` event with the change (:mod:`.work_pool_events`); pausing and
resuming, and the first heartbeat or poll that makes a pool READY, store the status event.

``get_scheduled_flow_runs`` accepts Flowyard's ``wait_seconds``: the poll is held until a
run of the pool is due (woken at once when a run is created, see ``database.wakeups``, or
at the due time of a run scheduled ahead) or the wait is over. Each look is a short
operation of its own: no transaction stays open while the poll waits.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from flowyard.schemas import filters
from flowyard.schemas import work_pools as schemas
from flowyard.server.database import wakeups
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import utcnow
from flowyard.server.operations import references
from flowyard.server.operations.context import RequestContext, Tx, operation, permission
from flowyard.server.operations.work_pool_events import (
    POOL_EVENT_FIELDS,
    changes,
    emit_pool_lifecycle,
    emit_pool_status,
    emit_queue_status,
    snapshot,
)
from flowyard.server.queries import deployments as deployment_queries
from flowyard.server.queries import job_templates, work_queue_runs, worker_metadata, workers
from flowyard.server.queries import work_pools as queries

READ = permission("read", "work_pool")
CREATE = permission("create", "work_pool")
UPDATE = permission("update", "work_pool")
DELETE = permission("delete", "work_pool")


async def pool_schemas(tx: Tx, pools: Sequence[WorkPool]) -> list[schemas.WorkPool]:
    """Response models, with statuses derived from the workers' heartbeats."""
    statuses = await queries.pool_statuses(tx.session, pools, utcnow())
    limited = [p.id for p in pools if p.concurrency_limit is not None]
    slots = await workers.pool_active_slots(tx.session, limited)
    out = []
    for pool in pools:
        model = schemas.WorkPool.model_validate(queries.as_dict(pool))
        model.status = statuses[pool.id]
        model.active_slots = slots.get(pool.id, 0) if pool.concurrency_limit is not None else None
        out.append(model)
    return out


async def pool_by_name(tx: Tx, name: str) -> WorkPool:
    return await queries.require_work_pool(tx.session, tx.workspace_id, name)


def _checked_template(pool_type: str, template: dict[str, Any]) -> dict[str, Any]:
    if not template:
        # What ``prefect work-pool create --type TYPE`` would have sent; a type no
        # integration defines keeps its empty template, as in the contract.
        return worker_metadata.default_base_job_template(pool_type) or template
    job_templates.validate_base_job_template(template)
    return template


# --- create, read, update, delete ---------------------------------------------------------


@operation(CREATE, writes=True)
async def create_work_pool(tx: Tx, create: schemas.WorkPoolCreate) -> schemas.WorkPool:
    """The new pool with its ``default`` queue; Conflict when the name is taken."""
    template = _checked_template(create.type, create.base_job_template)
    await references.require_storage_configuration(tx, create.storage_configuration)
    create = create.model_copy(update={"base_job_template": template})
    pool = await queries.create_work_pool(tx.session, tx.workspace_id, create)
    emit_pool_lifecycle(tx, "created", pool)
    [model] = await pool_schemas(tx, [pool])
    return model


@operation(READ)
async def read_work_pool(tx: Tx, name: str) -> schemas.WorkPool:
    [model] = await pool_schemas(tx, [await pool_by_name(tx, name)])
    return model


@operation(READ)
async def read_work_pools(
    tx: Tx, pool_filter: filters.WorkPoolFilter | None, limit: int, offset: int = 0
) -> list[schemas.WorkPool]:
    conditions = queries.work_pool_conditions(tx.workspace_id, pool_filter, tx.dialect)
    return await pool_schemas(
        tx, await queries.read_work_pools(tx.session, conditions, limit, offset)
    )


@operation(READ)
async def count_work_pools(tx: Tx, pool_filter: filters.WorkPoolFilter | None) -> int:
    conditions = queries.work_pool_conditions(tx.workspace_id, pool_filter, tx.dialect)
    return await queries.count_work_pools(tx.session, conditions)


@operation(UPDATE, writes=True)
async def update_work_pool(tx: Tx, name: str, update: schemas.WorkPoolUpdate) -> None:
    if update.base_job_template is not None:
        job_templates.validate_base_job_template(update.base_job_template)
    await references.require_storage_configuration(tx, update.storage_configuration)
    pool = await pool_by_name(tx, name)
    before = snapshot(pool, POOL_EVENT_FIELDS)
    was_paused = pool.is_paused
    await queries.update_work_pool(tx.session, pool, update)
    updates = changes(before, pool, POOL_EVENT_FIELDS)
    if updates:
        emit_pool_lifecycle(tx, "updated", pool, updates)
    if pool.is_paused != was_paused:
        [status] = (await queries.pool_statuses(tx.session, [pool])).values()
        emit_pool_status(tx, pool, status)
    if not pool.is_paused:
        wakeups.notify_after_commit(tx.session)  # its runs may be taken again


@operation(DELETE, writes=True)
async def delete_work_pool(tx: Tx, name: str) -> None:
    """Delete it with its queues and workers; Conflict while runs of it are unfinished."""
    pool = await pool_by_name(tx, name)
    await queries.delete_work_pool(tx.session, pool)
    emit_pool_lifecycle(tx, "deleted", pool)


# --- the poll -----------------------------------------------------------------------------


async def record_poll(
    tx: Tx, pool: WorkPool, queues: Sequence[WorkQueue], now: dt.datetime
) -> None:
    """A worker asked for work: the queues were polled now and the pool has a worker.
    A queue or pool that becomes READY by it has its status event."""
    newly_ready = [q for q in queues if q.status != "READY" and not q.is_paused]
    pool_ready = not pool.is_paused and pool.status != "READY"
    await work_queue_runs.record_poll(tx.session, pool, queues, now)
    await deployment_queries.mark_queues_polled(
        tx.session, tx.workspace_id, [q.id for q in queues], now
    )
    for queue in newly_ready:
        queue.status = "READY"
        emit_queue_status(tx, queue, pool, "READY")
    if pool_ready:
        pool.status = "READY"
        emit_pool_status(tx, pool, "READY")


@operation(READ, writes=True)
async def poll_work_pool(
    tx: Tx, name: str, body: schemas.GetScheduledFlowRuns, before: dt.datetime, limit: int
) -> list[schemas.WorkerFlowRunResponse]:
    """Record the poll and answer the due runs (see ``queries.work_queue_runs``)."""
    pool = await pool_by_name(tx, name)
    queues = await work_queue_runs.polled_queues(tx.session, pool, body.work_queue_names)
    await record_poll(tx, pool, queues, utcnow())
    return await work_queue_runs.scheduled_flow_runs(
        tx.session, pool, queues,
        scheduled_before=before, scheduled_after=body.scheduled_after, limit=limit,
    )  # fmt: skip


@operation(READ)
async def _next_due(tx: Tx, name: str, body: schemas.GetScheduledFlowRuns) -> dt.datetime | None:
    """When the pool's next run is due (None: none, or the pool is paused)."""
    pool = await pool_by_name(tx, name)
    if pool.is_paused:
        return None
    queues = await work_queue_runs.polled_queues(tx.session, pool, body.work_queue_names)
    return await work_queue_runs.next_due_time(tx.session, queues, body.scheduled_after)


@operation(READ)
async def _look_again(
    tx: Tx, name: str, body: schemas.GetScheduledFlowRuns, before: dt.datetime, limit: int
) -> tuple[list[schemas.WorkerFlowRunResponse], dt.datetime | None]:
    """The due runs; when there are none, when the next one is due."""
    pool = await pool_by_name(tx, name)
    queues = await work_queue_runs.polled_queues(tx.session, pool, body.work_queue_names)
    runs = await work_queue_runs.scheduled_flow_runs(
        tx.session, pool, queues,
        scheduled_before=before, scheduled_after=body.scheduled_after, limit=limit,
    )  # fmt: skip
    if runs or pool.is_paused:
        return runs, None
    return runs, await work_queue_runs.next_due_time(tx.session, queues, body.scheduled_after)


async def get_scheduled_flow_runs(
    ctx: RequestContext,
    name: str,
    body: schemas.GetScheduledFlowRuns,
    limit: int,
    disconnected: Callable[[], Awaitable[bool]],
) -> list[schemas.WorkerFlowRunResponse]:
    """A worker's poll: the due runs at once, or (``wait_seconds``) the first that come due
    within the wait. The window moves with the clock while it waits."""
    started = time.monotonic()
    before = body.scheduled_before or utcnow()
    runs = await poll_work_pool(ctx, name, body, before, limit)
    wait = body.wait_seconds or 0.0
    if runs or wait <= 0:
        return runs
    due = await _next_due(ctx, name, body)
    while not runs and not wakeups.closing():
        elapsed = time.monotonic() - started
        remaining = wait - elapsed
        if remaining <= 0:
            break
        horizon = before + dt.timedelta(seconds=elapsed)
        pause = min(remaining, wakeups.RECHECK_SECONDS)
        if due is not None:
            pause = min(pause, max(0.0, (due - horizon).total_seconds()))
        if pause > 0:
            await wakeups.wait_for_runs(pause)
        if wakeups.closing() or await disconnected():
            break
        elapsed = time.monotonic() - started
        runs, due = await _look_again(
            ctx, name, body, before + dt.timedelta(seconds=elapsed), limit
        )
    return runs
