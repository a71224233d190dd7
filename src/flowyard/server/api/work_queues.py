"""/work_queues: queues addressed by id (the form the official client uses inside a flow run
and the older queue-centred routes), and the pool types a ``work-pool create`` offers."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import work_pools as schemas
from flowyard.schemas.states import StateType
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.api.work_pools import queue_schemas
from flowyard.server.database import orm
from flowyard.server.database import wakeups as dispatch
from flowyard.server.database.orm_work_pools import WorkPool, WorkQueue
from flowyard.server.database.types import utcnow
from flowyard.server.queries import work_pools as queries

router = APIRouter(prefix="/work_queues", tags=["Work Queues"])

# The pool a queue created without one goes to (the official server's name for it).
DEFAULT_POOL_NAME = "default-agent-pool"


async def _by_id(session: AsyncSession, ctx: Ctx, queue_id: uuid.UUID) -> WorkQueue:
    queue = await queries.read_work_queue(session, ctx.workspace_id, queue_id)
    if queue is None:
        raise queries.WorkPoolNotFound("Work queue not found.")
    return queue


async def _pool_of(session: AsyncSession, ctx: Ctx, queue: WorkQueue) -> WorkPool:
    pool = await queries.read_work_pool(session, ctx.workspace_id, queue.work_pool_id)
    if pool is None:
        raise queries.WorkPoolNotFound("Work pool not found.")
    return pool


@router.post("/", status_code=201, response_model=schemas.WorkQueue)
async def create_work_queue(create: schemas.WorkQueueCreate, ctx: Ctx) -> JSONResponse:
    pool_name = create.work_pool_name or DEFAULT_POOL_NAME
    async with ctx.db.write() as session:
        pool = await queries.read_work_pool_by_name(session, ctx.workspace_id, pool_name)
        if pool is None and create.work_pool_name is None:
            try:
                pool = await queries.create_work_pool(
                    session, ctx.workspace_id, schemas.WorkPoolCreate(name=DEFAULT_POOL_NAME)
                )
            except queries.WorkPoolConflict:
                # Created by a concurrent request since we looked: use that one.
                pool = await queries.read_work_pool_by_name(session, ctx.workspace_id, pool_name)
        if pool is None:
            raise queries.WorkPoolNotFound(f"Work pool {pool_name!r} not found.")
        queue = await queries.create_work_queue(session, pool, create)
        [model] = await queue_schemas(session, ctx.workspace_id, [queue])
    return respond(model, 201)


@router.post("/filter", response_model=list[schemas.WorkQueue])
async def read_work_queues(
    request: Request,
    ctx: Ctx,
    body: schemas.WorkQueueFilterBody = Body(default_factory=schemas.WorkQueueFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.work_queue_conditions(ctx.workspace_id, body.work_queues, ctx.db.dialect)
    async with ctx.db.read() as session:
        queues = await queries.read_work_queues(session, conditions, limit, body.offset or 0)
        models = await queue_schemas(session, ctx.workspace_id, queues)
    return respond_many(models)


@router.get("/name/{name}", response_model=schemas.WorkQueue)
async def read_work_queue_by_name(name: str, ctx: Ctx) -> JSONResponse:
    conditions = queries.work_queue_conditions(ctx.workspace_id, None, ctx.db.dialect)
    async with ctx.db.read() as session:
        queues = [
            q for q in await queries.read_work_queues(session, conditions, None) if q.name == name
        ]
        if not queues:
            raise queries.WorkPoolNotFound(f"Work queue {name!r} not found.")
        [model] = await queue_schemas(session, ctx.workspace_id, queues[:1])
    return respond(model)


@router.get("/{id}", response_model=schemas.WorkQueue)
async def read_work_queue(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        [model] = await queue_schemas(session, ctx.workspace_id, [await _by_id(session, ctx, id)])
    return respond(model)


@router.patch("/{id}", status_code=204)
async def update_work_queue(id: uuid.UUID, update: schemas.WorkQueueUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        queue = await _by_id(session, ctx, id)
        await queries.update_work_queue(session, await _pool_of(session, ctx, queue), queue, update)
        dispatch.notify_after_commit(session)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_work_queue(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        queue = await _by_id(session, ctx, id)
        await queries.delete_work_queue(session, await _pool_of(session, ctx, queue), queue)
    return no_content()


@router.get("/{id}/status", response_model=schemas.WorkQueueStatusDetail)
async def read_work_queue_status(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    now = utcnow()
    async with ctx.db.read() as session:
        queue = await _by_id(session, ctx, id)
        late = await session.scalar(
            sa.select(sa.func.count())
            .select_from(orm.FlowRun)
            .where(
                orm.FlowRun.workspace_id == ctx.workspace_id,
                orm.FlowRun.work_queue_id == queue.id,
                orm.FlowRun.state_type == StateType.SCHEDULED.value,
                orm.FlowRun.state_name == "Late",
            )
        )
    policy = schemas.WorkQueueHealthPolicy()
    recent = queue.last_polled is not None and queue.last_polled >= now - dt.timedelta(
        seconds=policy.maximum_seconds_since_last_polled or 60
    )
    detail = schemas.WorkQueueStatusDetail(
        healthy=bool(recent and not late),
        late_runs_count=int(late or 0),
        last_polled=queue.last_polled,
        health_check_policy=policy,
    )
    return respond(detail)
