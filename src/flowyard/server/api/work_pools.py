"""/work_pools: pools, their queues and workers, and the poll workers take runs from.
HTTP only: each route parses, calls ``operations.work_pools``, ``operations.work_queues`` or
``operations.workers`` and shapes the answer.

``get_scheduled_flow_runs`` accepts Flowyard's ``wait_seconds`` (a long-poll, see
``operations.work_pools``); without it the answer is immediate, as the official worker
expects.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas import work_pools as schemas
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import work_pools as operations
from flowyard.server.operations import work_queues as queue_operations
from flowyard.server.operations import workers as worker_operations

router = APIRouter(prefix="/work_pools", tags=["Work Pools"])


# --- pools -------------------------------------------------------------------------------


@router.post("/", status_code=201, response_model=schemas.WorkPool)
async def create_work_pool(create: schemas.WorkPoolCreate, ctx: Ctx) -> JSONResponse:
    return respond(await operations.create_work_pool(ctx, create), 201)


@router.post("/filter", response_model=list[schemas.WorkPool])
async def read_work_pools(
    request: Request,
    ctx: Ctx,
    body: schemas.WorkPoolFilterBody = Body(default_factory=schemas.WorkPoolFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(
        await operations.read_work_pools(ctx, body.work_pools, limit, body.offset or 0)
    )


@router.post("/count", response_model=int)
async def count_work_pools(
    ctx: Ctx, body: schemas.WorkPoolCountBody = Body(default_factory=schemas.WorkPoolCountBody)
) -> JSONResponse:
    return JSONResponse(await operations.count_work_pools(ctx, body.work_pools))


@router.get("/{name}", response_model=schemas.WorkPool)
async def read_work_pool(name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_work_pool(ctx, name))


@router.patch("/{name}", status_code=204)
async def update_work_pool(name: str, update: schemas.WorkPoolUpdate, ctx: Ctx) -> Response:
    await operations.update_work_pool(ctx, name, update)
    return no_content()


@router.delete("/{name}", status_code=204)
async def delete_work_pool(name: str, ctx: Ctx) -> Response:
    await operations.delete_work_pool(ctx, name)
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
    runs = await operations.get_scheduled_flow_runs(ctx, name, body, limit, request.is_disconnected)
    return respond_many(runs)


# --- queues ------------------------------------------------------------------------------


@router.post("/{work_pool_name}/queues", status_code=201, response_model=schemas.WorkQueue)
async def create_work_queue(
    work_pool_name: str, create: schemas.WorkQueueCreate, ctx: Ctx
) -> JSONResponse:
    return respond(await queue_operations.create_work_queue(ctx, create, work_pool_name), 201)


@router.post("/{work_pool_name}/queues/filter", response_model=list[schemas.WorkQueue])
async def read_work_queues(
    work_pool_name: str,
    request: Request,
    ctx: Ctx,
    body: schemas.WorkQueueFilterBody = Body(default_factory=schemas.WorkQueueFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    queues = await queue_operations.read_work_queues(
        ctx, body.work_queues, limit, body.offset or 0, pool_name=work_pool_name
    )
    return respond_many(queues)


@router.get("/{work_pool_name}/queues/{name}", response_model=schemas.WorkQueue)
async def read_work_queue(work_pool_name: str, name: str, ctx: Ctx) -> JSONResponse:
    return respond(await queue_operations.read_pool_work_queue(ctx, work_pool_name, name))


@router.patch("/{work_pool_name}/queues/{name}", status_code=204)
async def update_work_queue(
    work_pool_name: str, name: str, update: schemas.WorkQueueUpdate, ctx: Ctx
) -> Response:
    await queue_operations.update_pool_work_queue(ctx, work_pool_name, name, update)
    return no_content()


@router.delete("/{work_pool_name}/queues/{name}", status_code=204)
async def delete_work_queue(work_pool_name: str, name: str, ctx: Ctx) -> Response:
    await queue_operations.delete_pool_work_queue(ctx, work_pool_name, name)
    return no_content()


# --- workers -----------------------------------------------------------------------------


@router.post("/{work_pool_name}/workers/heartbeat", status_code=204)
async def worker_heartbeat(
    work_pool_name: str, beat: schemas.WorkerHeartbeat, ctx: Ctx
) -> Response:
    worker_id = await worker_operations.worker_heartbeat(ctx, work_pool_name, beat)
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
    models = await worker_operations.read_workers(
        ctx, work_pool_name, body.workers, limit, body.offset or 0
    )
    return respond_many(models)


@router.delete("/{work_pool_name}/workers/{name}", status_code=204)
async def delete_worker(work_pool_name: str, name: str, ctx: Ctx) -> Response:
    await worker_operations.delete_worker(ctx, work_pool_name, name)
    return no_content()
