"""/work_queues: queues addressed by id (the form the official client uses inside a flow run
and the older queue-centred routes): create, read, filter, update, delete, status, the runs
a queue holds (``get_runs``). HTTP only: each route parses,
calls ``operations.work_queues`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Header, Request, Response

from flowyard.schemas import core
from flowyard.schemas import work_pools as schemas
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import work_queues as operations

router = APIRouter(prefix="/work_queues", tags=["Work Queues"])


@router.post("/", status_code=201, response_model=schemas.WorkQueue)
async def create_work_queue(create: schemas.WorkQueueCreate, ctx: Ctx) -> JSONResponse:
    """A queue in the pool the body names, else in ``default-agent-pool``."""
    return respond(await operations.create_work_queue(ctx, create), 201)


@router.post("/filter", response_model=list[schemas.WorkQueue])
async def read_work_queues(
    request: Request,
    ctx: Ctx,
    body: schemas.WorkQueueFilterBody = Body(default_factory=schemas.WorkQueueFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(
        await operations.read_work_queues(ctx, body.work_queues, limit, body.offset or 0)
    )


@router.get("/name/{name}", response_model=schemas.WorkQueue)
async def read_work_queue_by_name(name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_work_queue_by_name(ctx, name))


@router.get("/{id}", response_model=schemas.WorkQueue)
async def read_work_queue(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_work_queue(ctx, id))


@router.patch("/{id}", status_code=204)
async def update_work_queue(id: uuid.UUID, update: schemas.WorkQueueUpdate, ctx: Ctx) -> Response:
    await operations.update_work_queue(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_work_queue(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_work_queue(ctx, id)
    return no_content()


@router.get("/{id}/status", response_model=schemas.WorkQueueStatusDetail)
async def read_work_queue_status(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_work_queue_status(ctx, id))


@router.post("/{id}/get_runs", response_model=list[core.FlowRun])
async def read_work_queue_runs(
    id: uuid.UUID,
    request: Request,
    ctx: Ctx,
    body: schemas.WorkQueueRunsBody = Body(default_factory=schemas.WorkQueueRunsBody),
    x_prefect_ui: bool | None = Header(
        default=False, description="A header to indicate this request came from the Prefect UI."
    ),
) -> JSONResponse:
    """The queue's due Scheduled runs. A worker's call counts as a poll of the queue; the
    UI's (``x-prefect-ui: true``) does not."""
    limit = clamp_limit(request, body.limit)
    runs = await operations.read_work_queue_runs(
        ctx, id, body.scheduled_before, limit, record_poll=not x_prefect_ui
    )
    return respond_many(runs)
