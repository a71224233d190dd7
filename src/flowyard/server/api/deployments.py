"""/deployments: upsert, read (by id and by flow/deployment name), filter, count, paginate,
update, pause/resume, delete, create_flow_run, schedules, and the scheduled runs ``serve()``
polls for. Creating, changing or resuming a deployment schedules its runs at once, in the
same transaction (the scheduler service keeps them topped up afterwards)."""

from __future__ import annotations

import math
import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.deployments import (
    BulkDeleteBody,
    Deployment,
    DeploymentCreate,
    DeploymentFilterBody,
    DeploymentFilters,
    DeploymentFlowRunCreate,
    DeploymentPage,
    DeploymentPaginateBody,
    DeploymentSchedule,
    DeploymentScheduleCreate,
    DeploymentScheduleUpdate,
    DeploymentUpdate,
    ScheduledRunsBody,
)
from flowyard.schemas.filters import (
    FlowRunFilter,
    OptionalIdFilter,
    RunFilters,
    StateFilter,
    StateTypeFilter,
    TimeFilter,
)
from flowyard.schemas.responses import BulkDeleteResponse
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import StateType
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import (
    JSONResponse,
    also,
    no_content,
    respond,
    respond_many,
)
from flowyard.server.api.runs_common import respond_model
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.queued_runs import prepare_queued_run
from flowyard.server.orchestration.transitions import insert_new_flow_run
from flowyard.server.queries import deployments as queries
from flowyard.server.queries import flow_runs as run_queries
from flowyard.server.queries import schedules as schedule_queries
from flowyard.server.queries.run_filters import flow_run_conditions
from flowyard.server.services import scheduler

deployments = APIRouter(prefix="/deployments", tags=["Deployments"])
automations = APIRouter(prefix="/automations", tags=["Automations"])

NOT_FOUND = "Deployment not found."


async def _one(session: AsyncSession, ctx: Ctx, deployment_id: uuid.UUID) -> DeploymentRow:
    row = await queries.read_deployment(session, ctx.workspace_id, deployment_id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def _schema(session: AsyncSession, row: DeploymentRow) -> Deployment:
    return (await queries.deployment_schemas(session, [row]))[0]


@deployments.post(
    "/",
    status_code=201,
    response_model=Deployment,
    responses=also(200, Deployment, "A deployment of that flow and name was updated."),
)
async def create_deployment(create: DeploymentCreate, ctx: Ctx) -> JSONResponse:
    async with ctx.db.write() as session:
        row, created = await queries.upsert_deployment(session, ctx.workspace_id, create)
        await scheduler.schedule_deployment(session, row)
        model = await _schema(session, row)
    scheduler.wake()
    return respond(model, 201 if created else 200)


@deployments.post("/filter", response_model=list[Deployment])
async def read_deployments(
    request: Request,
    ctx: Ctx,
    body: DeploymentFilterBody = Body(default_factory=DeploymentFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.deployment_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_deployments(session, conditions, body.sort, limit, body.offset)
        models = await queries.deployment_schemas(session, rows)
    return respond_many(models)


@deployments.post("/paginate", response_model=DeploymentPage)
async def paginate_deployments(
    request: Request,
    ctx: Ctx,
    body: DeploymentPaginateBody = Body(default_factory=DeploymentPaginateBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.deployment_conditions(ctx.workspace_id, body, ctx.db.dialect)
    offset = (body.page - 1) * limit
    async with ctx.db.read() as session:
        count = await queries.count_deployments(session, conditions)
        rows = await queries.read_deployments(session, conditions, body.sort, limit, offset)
        models = await queries.deployment_schemas(session, rows)
    pages = math.ceil(count / limit) if limit else 0
    page = DeploymentPage(results=models, count=count, limit=limit, pages=pages, page=body.page)
    return respond(page)


@deployments.post("/count", response_model=int)
async def count_deployments(
    ctx: Ctx, body: DeploymentFilters = Body(default_factory=DeploymentFilters)
) -> JSONResponse:
    conditions = queries.deployment_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_deployments(session, conditions))


@deployments.post("/bulk_delete", response_model=BulkDeleteResponse)
async def bulk_delete_deployments(
    ctx: Ctx, body: BulkDeleteBody = Body(default_factory=BulkDeleteBody)
) -> JSONResponse:
    conditions = queries.deployment_conditions(
        ctx.workspace_id, DeploymentFilters(deployments=body.deployments), ctx.db.dialect
    )
    async with ctx.db.write() as session:
        rows = await queries.read_deployments(session, conditions, limit=body.limit)
        for row in rows:
            await queries.delete_deployment(session, ctx.workspace_id, row.id)
    return JSONResponse({"deleted": [str(r.id) for r in rows]})


@deployments.post("/get_scheduled_flow_runs", response_model=list[core.FlowRun])
async def get_scheduled_flow_runs(
    request: Request, ctx: Ctx, body: ScheduledRunsBody
) -> JSONResponse:
    """Due Scheduled runs of these deployments, soonest first (what ``serve()`` polls)."""
    limit = clamp_limit(request, body.limit)
    flt = FlowRunFilter(
        deployment_id=OptionalIdFilter(any_=body.deployment_ids),
        state=StateFilter(type=StateTypeFilter(any_=[StateType.SCHEDULED])),
        next_scheduled_start_time=TimeFilter(before_=body.scheduled_before or utcnow()),
    )
    conditions = flow_run_conditions(ctx.workspace_id, RunFilters(flow_runs=flt), ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await run_queries.read_flow_runs(
            session, conditions, FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC, limit
        )
        stale = await queries.stale_polls(session, ctx.workspace_id, body.deployment_ids)
    if stale:
        async with ctx.db.write() as session:
            await queries.mark_polled(session, ctx.workspace_id, stale)
    now = utcnow()
    return respond_many(run_queries.flow_run_schema_from_row(row, now) for row in rows)


@deployments.get("/name/{flow_name}/{deployment_name}", response_model=Deployment)
async def read_deployment_by_name(flow_name: str, deployment_name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_deployment_by_name(
            session, ctx.workspace_id, flow_name, deployment_name
        )
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        model = await _schema(session, row)
    return respond(model)


@deployments.get("/{id}", response_model=Deployment)
async def read_deployment(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        model = await _schema(session, await _one(session, ctx, id))
    return respond(model)


@deployments.patch("/{id}", status_code=204)
async def update_deployment(id: uuid.UUID, update: DeploymentUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        row = await _one(session, ctx, id)
        if await queries.update_deployment(session, ctx.workspace_id, row, update):
            await scheduler.schedule_deployment(session, row)
    scheduler.wake()
    return no_content()


@deployments.delete("/{id}", status_code=204)
async def delete_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_deployment(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@deployments.post("/{id}/pause_deployment", status_code=200)
async def pause_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        await queries.set_paused(session, ctx.workspace_id, await _one(session, ctx, id), True)
    return JSONResponse(None)


@deployments.post("/{id}/resume_deployment", status_code=200)
async def resume_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        row = await _one(session, ctx, id)
        await queries.set_paused(session, ctx.workspace_id, row, False)
        await scheduler.schedule_deployment(session, row)
    scheduler.wake()
    return JSONResponse(None)


@deployments.post("/{id}/schedule", status_code=200)
async def schedule_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        await scheduler.schedule_deployment(session, await _one(session, ctx, id))
    return JSONResponse(None)


@deployments.post(
    "/{id}/create_flow_run",
    status_code=201,
    response_model=core.FlowRun,
    responses=also(200, core.FlowRun, "A run with this idempotency key already existed."),
)
async def create_flow_run_from_deployment(
    id: uuid.UUID,
    ctx: Ctx,
    body: DeploymentFlowRunCreate = Body(default_factory=DeploymentFlowRunCreate),
) -> Response:
    async with ctx.db.write() as session:
        model, created = await _create_run(session, ctx, await _one(session, ctx, id), body)
    return respond_model(model, 201 if created else 200)


@deployments.post("/{id}/create_flow_run/bulk", status_code=201, response_model=list[core.FlowRun])
async def create_flow_runs_from_deployment(
    id: uuid.UUID, ctx: Ctx, bodies: list[DeploymentFlowRunCreate] = Body(..., max_length=100)
) -> JSONResponse:
    """Several runs in one transaction: all are created, or none (a bad one is a 422)."""
    async with ctx.db.write() as session:
        row = await _one(session, ctx, id)
        models = [(await _create_run(session, ctx, row, body))[0] for body in bodies]
    return respond_many(models, 201)


async def _create_run(
    session: AsyncSession, ctx: Ctx, row: DeploymentRow, body: DeploymentFlowRunCreate
) -> tuple[core.FlowRun, bool]:
    """The new run and True, or the run already holding the idempotency key and False."""
    create = queries.flow_run_create(row, body)
    if create.idempotency_key is not None:
        found = await run_queries.read_flow_run_by_idempotency_key(
            session, ctx.workspace_id, row.flow_id, create.idempotency_key
        )
        if found is not None:
            return run_queries.flow_run_schema_from_row(found), False
    run = await run_queries.create_flow_run(session, ctx.workspace_id, create)
    if run is None:
        raise HTTPException(404, f"The flow of deployment {row.name!r} no longer exists.")
    queries.link_run(run, row, body.work_queue_name is not None)
    await prepare_queued_run(session, ctx.workspace_id, run)
    if run.work_queue_id is not None and run.work_pool_id is None:
        from flowyard.server.queries.work_pools import read_work_queue

        queue = await read_work_queue(session, ctx.workspace_id, run.work_queue_id)
        run.work_pool_id = queue.work_pool_id if queue is not None else None
    state = await insert_new_flow_run(session, run, create.state)
    return run_queries.flow_run_schema(run, state), True


# --- schedules ---------------------------------------------------------------------------


@deployments.get("/{id}/schedules", response_model=list[DeploymentSchedule])
async def read_schedules(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        await _one(session, ctx, id)
        rows = await schedule_queries.read_schedules(session, ctx.workspace_id, id)
    return respond_many(schedule_queries.schedule_schema(r) for r in rows)


@deployments.post("/{id}/schedules", status_code=201, response_model=list[DeploymentSchedule])
async def create_schedules(
    id: uuid.UUID, ctx: Ctx, schedules: list[DeploymentScheduleCreate] = Body(...)
) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await _one(session, ctx, id)
        created = await schedule_queries.create_schedules(session, row, schedules)
        await scheduler.schedule_deployment(session, row)
        models = [schedule_queries.schedule_schema(r) for r in created]
    scheduler.wake()
    return respond_many(models, 201)


@deployments.patch("/{id}/schedules/{schedule_id}", status_code=204)
async def update_schedule(
    id: uuid.UUID, schedule_id: uuid.UUID, update: DeploymentScheduleUpdate, ctx: Ctx
) -> Response:
    async with ctx.db.write() as session:
        row = await _one(session, ctx, id)
        schedule = await schedule_queries.read_schedule(session, id, schedule_id)
        if schedule is None:
            raise HTTPException(404, "Schedule not found.")
        await schedule_queries.update_schedule(session, schedule, update)
        await scheduler.schedule_deployment(session, row)
    scheduler.wake()
    return no_content()


@deployments.delete("/{id}/schedules/{schedule_id}", status_code=204)
async def delete_schedule(id: uuid.UUID, schedule_id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        await _one(session, ctx, id)
        schedule = await schedule_queries.read_schedule(session, id, schedule_id)
        if schedule is None:
            raise HTTPException(404, "Schedule not found.")
        await schedule_queries.delete_schedule(session, ctx.workspace_id, schedule)
    return no_content()


# The official client clears a deployment's automations after each deploy; Flowyard has no
# automations yet, so there is nothing to delete.
@automations.delete("/owned-by/{resource_id}", status_code=202)
async def delete_owned_automations(resource_id: str, ctx: Ctx) -> Response:
    return Response(status_code=202)


router = APIRouter()
router.include_router(deployments)
router.include_router(automations)
