"""/deployments: upsert, read (by id and by flow/deployment name), filter, count, paginate,
update, pause/resume, delete, create_flow_run (single and bulk), schedules, the scheduled
runs ``serve()`` polls for, and the (deprecated) work-queue check. HTTP only: each route
parses, calls ``operations.deployments`` or ``operations.schedules`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response

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
from flowyard.schemas.responses import BulkDeleteResponse, FlowRunBulkCreateResponse
from flowyard.schemas.work_pools import WorkQueue
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, also, no_content, respond, respond_many
from flowyard.server.api.runs_common import respond_model
from flowyard.server.operations import deployments as operations
from flowyard.server.operations import schedules as schedule_operations

deployments = APIRouter(prefix="/deployments", tags=["Deployments"])


@deployments.post(
    "/",
    status_code=201,
    response_model=Deployment,
    responses=also(200, Deployment, "A deployment of that flow and name was updated."),
)
async def create_deployment(create: DeploymentCreate, ctx: Ctx) -> JSONResponse:
    model, created = await operations.create_deployment(ctx, create)
    return respond(model, 201 if created else 200)


@deployments.post("/filter", response_model=list[Deployment])
async def read_deployments(
    request: Request,
    ctx: Ctx,
    body: DeploymentFilterBody = Body(default_factory=DeploymentFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_deployments(ctx, body, body.sort, limit, body.offset))


@deployments.post("/paginate", response_model=DeploymentPage)
async def paginate_deployments(
    request: Request,
    ctx: Ctx,
    body: DeploymentPaginateBody = Body(default_factory=DeploymentPaginateBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    models, count = await operations.paginate_deployments(ctx, body, body.sort, limit, body.page)
    pages = (count + limit - 1) // limit if limit else 0
    return respond(
        DeploymentPage(results=models, count=count, limit=limit, pages=pages, page=body.page)
    )


@deployments.post("/count", response_model=int)
async def count_deployments(
    ctx: Ctx, body: DeploymentFilters = Body(default_factory=DeploymentFilters)
) -> JSONResponse:
    return JSONResponse(await operations.count_deployments(ctx, body))


@deployments.post("/bulk_delete", response_model=BulkDeleteResponse)
async def bulk_delete_deployments(
    ctx: Ctx, body: BulkDeleteBody = Body(default_factory=BulkDeleteBody)
) -> JSONResponse:
    deleted = await operations.bulk_delete_deployments(ctx, body.deployments, body.limit)
    return respond(BulkDeleteResponse(deleted=deleted))


@deployments.post("/get_scheduled_flow_runs", response_model=list[core.FlowRun])
async def get_scheduled_flow_runs(
    request: Request, ctx: Ctx, body: ScheduledRunsBody
) -> JSONResponse:
    """Due Scheduled runs of these deployments, soonest first (what ``serve()`` polls)."""
    limit = clamp_limit(request, body.limit)
    runs = await operations.get_scheduled_flow_runs(
        ctx, body.deployment_ids, body.scheduled_before, limit
    )
    return respond_many(runs)


@deployments.get("/name/{flow_name}/{deployment_name}", response_model=Deployment)
async def read_deployment_by_name(flow_name: str, deployment_name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_deployment_by_name(ctx, flow_name, deployment_name))


@deployments.get("/{id}", response_model=Deployment)
async def read_deployment(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_deployment(ctx, id))


@deployments.patch("/{id}", status_code=204)
async def update_deployment(id: uuid.UUID, update: DeploymentUpdate, ctx: Ctx) -> Response:
    await operations.update_deployment(ctx, id, update)
    return no_content()


@deployments.delete("/{id}", status_code=204)
async def delete_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_deployment(ctx, id)
    return no_content()


@deployments.post("/{id}/pause_deployment", status_code=200)
async def pause_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.pause_deployment(ctx, id)
    return JSONResponse(None)


@deployments.post("/{id}/resume_deployment", status_code=200)
async def resume_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.resume_deployment(ctx, id)
    return JSONResponse(None)


@deployments.post("/{id}/schedule", status_code=200)
async def schedule_deployment(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.schedule_deployment(ctx, id)
    return JSONResponse(None)


@deployments.get("/{id}/work_queue_check", response_model=list[WorkQueue], deprecated=True)
async def work_queue_check(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    """The work queues whose (legacy) tag filter would pick up the deployment's runs."""
    return respond_many(await operations.work_queue_check(ctx, id))


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
    run, created = await operations.create_flow_run(ctx, id, body)
    return respond_model(run, 201 if created else 200)


@deployments.post("/{id}/create_flow_run/bulk", response_model=FlowRunBulkCreateResponse)
async def create_flow_runs_from_deployment(
    id: uuid.UUID, ctx: Ctx, bodies: list[DeploymentFlowRunCreate] = Body(..., max_length=100)
) -> JSONResponse:
    """Several runs in one request, each with its own outcome (CREATED with its id, or
    FAILED with the reason), as the contract answers."""
    results = await operations.create_flow_runs(ctx, id, bodies)
    return respond(FlowRunBulkCreateResponse(results=results))


# --- schedules ---------------------------------------------------------------------------


@deployments.get("/{id}/schedules", response_model=list[DeploymentSchedule])
async def read_schedules(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond_many(await schedule_operations.read_schedules(ctx, id))


@deployments.post("/{id}/schedules", status_code=201, response_model=list[DeploymentSchedule])
async def create_schedules(
    id: uuid.UUID, ctx: Ctx, schedules: list[DeploymentScheduleCreate] = Body(...)
) -> JSONResponse:
    return respond_many(await schedule_operations.create_schedules(ctx, id, schedules), 201)


@deployments.patch("/{id}/schedules/{schedule_id}", status_code=204)
async def update_schedule(
    id: uuid.UUID, schedule_id: uuid.UUID, update: DeploymentScheduleUpdate, ctx: Ctx
) -> Response:
    await schedule_operations.update_schedule(ctx, id, schedule_id, update)
    return no_content()


@deployments.delete("/{id}/schedules/{schedule_id}", status_code=204)
async def delete_schedule(id: uuid.UUID, schedule_id: uuid.UUID, ctx: Ctx) -> Response:
    await schedule_operations.delete_schedule(ctx, id, schedule_id)
    return no_content()


router = APIRouter()
router.include_router(deployments)
