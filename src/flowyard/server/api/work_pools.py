"""/work_pools: pools, their queues and workers, and the poll workers take runs from.

``get_scheduled_flow_runs`` accepts Flowyard's ``wait_seconds``: the request is held until a
run of the pool is due (woken at once when a run is created, see ``server.dispatch``, or at
the due time of a run scheduled ahead) or the wait is over; without it the answer is
immediate, as the official worker expects.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import work_pools as schemas
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.database import orm
from flowyard.server.database import wakeups as dispatch
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import utcnow
from flowyard.server.queries import job_templates, work_queue_runs, worker_metadata, workers
from flowyard.server.queries import work_pools as queries

router = APIRouter(prefix="/work_pools", tags=["Work Pools"])


async def pool_schemas(session: AsyncSession, pools: Sequence[WorkPool]) -> list[schemas.WorkPool]:
    now = utcnow()
    statuses = await queries.pool_statuses(session, pools, now)
    limited = [p.id for p in pools if p.concurrency_limit is not None]
    slots = await workers.pool_active_slots(session, limited)
    out = []
    for pool in pools:
        model = schemas.WorkPool.model_validate(queries.as_dict(pool))
        model.status = statuses[pool.id]
        model.active_slots = slots.get(pool.id, 0) if pool.concurrency_limit is not None else None
        out.append(model)
    return out


async def queue_schemas(
    session: AsyncSession, workspace_id: uuid.UUID, queues: Sequence[WorkQueue]
) -> list[schemas.WorkQueue]:
    now = utcnow()
    pool_ids = {q.work_pool_id for q in queues}
    pools = {p.id: p for p in await workers.read_pools_by_id(session, workspace_id, pool_ids)}
    limited = [q.id for q in queues if q.concurrency_limit is not None]
    slots = await queries.active_slot_counts(session, orm.FlowRun.work_queue_id, limited)
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


def _checked_template(pool_type: str, template: dict[str, Any]) -> dict[str, Any]:
    if not template:
        # What ``prefect work-pool create --type TYPE`` would have sent; a type no
        # integration defines keeps its empty template, as in the contract.
        return worker_metadata.default_base_job_template(pool_type) or template
    job_templates.validate_base_job_template(template)
    return template


# --- pools -------------------------------------------------------------------------------


@router.post("/", status_code=201, response_model=schemas.WorkPool)
async def create_work_pool(create: schemas.WorkPoolCreate, ctx: Ctx) -> JSONResponse:
    create.base_job_template = _checked_template(create.type, create.base_job_template)
    async with ctx.db.write() as session:
        pool = await queries.create_work_pool(session, ctx.workspace_id, create)
        [model] = await pool_schemas(session, [pool])
    return respond(model, 201)


@router.post("/filter", response_model=list[schemas.WorkPool])
async def read_work_pools(
    request: Request,
    ctx: Ctx,
    body: schemas.WorkPoolFilterBody = Body(default_factory=schemas.WorkPoolFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.work_pool_conditions(ctx.workspace_id, body.work_pools, ctx.db.dialect)
    async with ctx.db.read() as session:
        pools = await queries.read_work_pools(session, conditions, limit, body.offset or 0)
        models = await pool_schemas(session, pools)
    return respond_many(models)


@router.post("/count", response_model=int)
async def count_work_pools(
    ctx: Ctx, body: schemas.WorkPoolCountBody = Body(default_factory=schemas.WorkPoolCountBody)
) -> JSONResponse:
    conditions = queries.work_pool_conditions(ctx.workspace_id, body.work_pools, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_work_pools(session, conditions))


@router.get("/{name}", response_model=schemas.WorkPool)
async def read_work_pool(name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, name)
        [model] = await pool_schemas(session, [pool])
    return respond(model)


@router.patch("/{name}", status_code=204)
async def update_work_pool(name: str, update: schemas.WorkPoolUpdate, ctx: Ctx) -> Response:
    if update.base_job_template is not None:
        job_templates.validate_base_job_template(update.base_job_template)
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, name)
        await queries.update_work_pool(session, pool, update)
        if update.is_paused is False:
            dispatch.notify_after_commit(session)  # its runs may be taken again
    return no_content()


@router.delete("/{name}", status_code=204)
async def delete_work_pool(name: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, name)
        await queries.delete_work_pool(session, pool)
    return no_content()


# --- the poll ----------------------------------------------------------------------------


@router.post("/{name}/get_scheduled_flow_runs", response_model=list[schemas.WorkerFlowRunResponse])
async def get_scheduled_flow_runs(
    name: str,
    request: Request,
    ctx: Ctx,
    body: schemas.GetScheduledFlowRuns = Body(default_factory=schemas.GetScheduledFlowRuns),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    started = time.monotonic()
    now = utcnow()
    before = body.scheduled_before or now
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, name)
        queues = await work_queue_runs.polled_queues(session, pool, body.work_queue_names)
        await work_queue_runs.record_poll(session, pool, queues, now)
        runs = await work_queue_runs.scheduled_flow_runs(
            session,
            pool,
            queues,
            scheduled_before=before,
            scheduled_after=body.scheduled_after,
            limit=limit,
        )
    wait = body.wait_seconds or 0.0
    while not runs and not dispatch.closing():
        elapsed = time.monotonic() - started
        remaining = wait - elapsed
        if remaining <= 0:
            break
        # The window moves with the clock: a run due while we wait is returned when due.
        horizon = before + dt.timedelta(seconds=elapsed)
        async with ctx.db.read() as session:
            due = await _next_due(session, ctx, name, body, horizon)
        pause = min(remaining, dispatch.RECHECK_SECONDS)
        if due is not None:
            pause = min(pause, max(0.0, (due - horizon).total_seconds()))
        if pause > 0:
            await dispatch.wait_for_runs(pause)
        if dispatch.closing() or await request.is_disconnected():
            break
        elapsed = time.monotonic() - started
        async with ctx.db.read() as session:
            pool = await queries.require_work_pool(session, ctx.workspace_id, name)
            queues = await work_queue_runs.polled_queues(session, pool, body.work_queue_names)
            runs = await work_queue_runs.scheduled_flow_runs(
                session,
                pool,
                queues,
                scheduled_before=before + dt.timedelta(seconds=elapsed),
                scheduled_after=body.scheduled_after,
                limit=limit,
            )
    return respond_many(runs)


async def _next_due(
    session: AsyncSession,
    ctx: Ctx,
    name: str,
    body: schemas.GetScheduledFlowRuns,
    horizon: dt.datetime,
) -> dt.datetime | None:
    pool = await queries.require_work_pool(session, ctx.workspace_id, name)
    if pool.is_paused:
        return None
    queues = await work_queue_runs.polled_queues(session, pool, body.work_queue_names)
    return await work_queue_runs.next_due_time(session, queues, body.scheduled_after)


# --- queues ------------------------------------------------------------------------------


@router.post("/{work_pool_name}/queues", status_code=201, response_model=schemas.WorkQueue)
async def create_work_queue(
    work_pool_name: str, create: schemas.WorkQueueCreate, ctx: Ctx
) -> JSONResponse:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        queue = await queries.create_work_queue(session, pool, create)
        [model] = await queue_schemas(session, ctx.workspace_id, [queue])
    return respond(model, 201)


@router.post("/{work_pool_name}/queues/filter", response_model=list[schemas.WorkQueue])
async def read_work_queues(
    work_pool_name: str,
    request: Request,
    ctx: Ctx,
    body: schemas.WorkQueueFilterBody = Body(default_factory=schemas.WorkQueueFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        conditions = queries.work_queue_conditions(
            ctx.workspace_id, body.work_queues, ctx.db.dialect, pool
        )
        queues = await queries.read_work_queues(session, conditions, limit, body.offset or 0)
        models = await queue_schemas(session, ctx.workspace_id, queues)
    return respond_many(models)


async def _queue(session: AsyncSession, ctx: Ctx, pool: WorkPool, name: str) -> WorkQueue:
    queue = await queries.read_work_queue_by_name(session, pool, name)
    if queue is None:
        raise queries.WorkPoolNotFound(f"Work queue {name!r} not found in work pool {pool.name!r}.")
    return queue


@router.get("/{work_pool_name}/queues/{name}", response_model=schemas.WorkQueue)
async def read_work_queue(work_pool_name: str, name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        queue = await _queue(session, ctx, pool, name)
        [model] = await queue_schemas(session, ctx.workspace_id, [queue])
    return respond(model)


@router.patch("/{work_pool_name}/queues/{name}", status_code=204)
async def update_work_queue(
    work_pool_name: str, name: str, update: schemas.WorkQueueUpdate, ctx: Ctx
) -> Response:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        queue = await _queue(session, ctx, pool, name)
        await queries.update_work_queue(session, pool, queue, update)
        dispatch.notify_after_commit(session)
    return no_content()


@router.delete("/{work_pool_name}/queues/{name}", status_code=204)
async def delete_work_queue(work_pool_name: str, name: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        queue = await _queue(session, ctx, pool, name)
        await queries.delete_work_queue(session, pool, queue)
    return no_content()


# --- workers -----------------------------------------------------------------------------


@router.post("/{work_pool_name}/workers/heartbeat", status_code=204)
async def worker_heartbeat(
    work_pool_name: str, beat: schemas.WorkerHeartbeat, ctx: Ctx
) -> Response:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        worker_id = await workers.record_heartbeat(session, pool, beat)
    if beat.return_id:
        return JSONResponse(str(worker_id))
    return no_content()


@router.post("/{work_pool_name}/workers/filter", response_model=list[schemas.Worker])
async def read_workers(
    work_pool_name: str,
    request: Request,
    ctx: Ctx,
    body: schemas.WorkerFilterBody = Body(default_factory=schemas.WorkerFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        models = await workers.read_workers(session, pool, body.workers, limit, body.offset or 0)
    return respond_many(models)


@router.delete("/{work_pool_name}/workers/{name}", status_code=204)
async def delete_worker(work_pool_name: str, name: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        pool = await queries.require_work_pool(session, ctx.workspace_id, work_pool_name)
        if not await workers.delete_worker(session, pool, name):
            raise queries.WorkPoolNotFound(
                f"Worker {name!r} not found in work pool {work_pool_name!r}."
            )
    return no_content()
