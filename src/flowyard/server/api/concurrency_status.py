"""``POST /work_pools/{name}/concurrency_status`` and
``POST /work_queues/{id}/concurrency_status``: how full a pool or queue is, and which runs
hold its slots. HTTP only: each route calls ``operations.concurrency_status``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request

from flowyard.schemas.concurrency import (
    WorkPoolConcurrencyStatus,
    WorkPoolConcurrencyStatusRequest,
    WorkQueueConcurrencyStatus,
    WorkQueueConcurrencyStatusRequest,
)
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, respond
from flowyard.server.operations import concurrency_status as operations

router = APIRouter()


@router.post(
    "/work_pools/{name}/concurrency_status",
    response_model=WorkPoolConcurrencyStatus,
    tags=["Work Pools"],
)
async def read_work_pool_concurrency_status(
    name: str,
    request: Request,
    ctx: Ctx,
    body: WorkPoolConcurrencyStatusRequest = Body(
        default_factory=WorkPoolConcurrencyStatusRequest
    ),
) -> JSONResponse:
    """The pool's held slots, with a page of its queues (each with up to
    ``flow_run_limit`` of the runs holding its slots)."""
    limit = clamp_limit(request, body.limit)
    status = await operations.read_work_pool_concurrency_status(
        ctx, name, body.page, limit, body.flow_run_limit
    )
    return respond(status)


@router.post(
    "/work_queues/{id}/concurrency_status",
    response_model=WorkQueueConcurrencyStatus,
    tags=["Work Queues"],
)
async def read_work_queue_concurrency_status(
    id: uuid.UUID,
    request: Request,
    ctx: Ctx,
    body: WorkQueueConcurrencyStatusRequest = Body(
        default_factory=WorkQueueConcurrencyStatusRequest
    ),
) -> JSONResponse:
    """The queue's held slots (in all), with a page of the runs holding them."""
    limit = clamp_limit(request, body.limit)
    return respond(await operations.read_work_queue_concurrency_status(ctx, id, body.page, limit))
