"""/task_runs: create (an upsert), read, filter, count, paginate, history, set_state,
update, delete. HTTP only: each route parses, calls ``operations.task_runs`` and shapes the
answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response
from pydantic import Field

from flowyard.schemas import actions, core
from flowyard.schemas.filters import Page, RunFilters
from flowyard.schemas.history import RunHistoryBody
from flowyard.schemas.responses import TaskRunPage
from flowyard.schemas.sorting import TaskRunSort
from flowyard.schemas.states import OrchestrationResult, SetStateRequest, SetStateStatus
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, also, no_content, respond_many
from flowyard.server.api.runs_common import respond_list, respond_model, respond_page
from flowyard.server.operations import task_runs as operations

router = APIRouter(prefix="/task_runs", tags=["Task Runs"])


class TaskRunFilterBody(RunFilters, Page):
    sort: TaskRunSort | None = TaskRunSort.ID_DESC


class TaskRunPaginateBody(RunFilters):
    sort: TaskRunSort | None = TaskRunSort.ID_DESC
    limit: int | None = Field(default=None, ge=0)
    page: int = Field(default=1, ge=1)


@router.post(
    "/",
    status_code=201,
    response_model=core.TaskRun,
    responses=also(200, core.TaskRun, "The same task run already existed."),
)
async def create_task_run(create: actions.TaskRunCreate, ctx: Ctx) -> Response:
    run, created = await operations.create_task_run(ctx, create)
    return respond_model(run, 201 if created else 200)


@router.get("/{id}", response_model=core.TaskRun)
async def read_task_run(id: uuid.UUID, ctx: Ctx) -> Response:
    return respond_model(await operations.read_task_run(ctx, id))


@router.post("/filter", response_model=list[core.TaskRun])
async def read_task_runs(
    request: Request, ctx: Ctx, body: TaskRunFilterBody = Body(default_factory=TaskRunFilterBody)
) -> Response:
    limit = clamp_limit(request, body.limit)
    runs = await operations.read_task_runs(ctx, body, body.sort, limit, body.offset)
    return respond_list(runs, core.TaskRun)


@router.post("/count", response_model=int)
async def count_task_runs(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    return JSONResponse(await operations.count_task_runs(ctx, body))


@router.post("/paginate", response_model=TaskRunPage)
async def paginate_task_runs(
    request: Request,
    ctx: Ctx,
    body: TaskRunPaginateBody = Body(default_factory=TaskRunPaginateBody),
) -> Response:
    limit = clamp_limit(request, body.limit)
    runs, count = await operations.paginate_task_runs(ctx, body, body.sort, limit, body.page)
    return respond_page(runs, core.TaskRun, count, limit, body.page)


@router.post("/history", response_model=list[core.HistoryInterval])
async def task_run_history(body: RunHistoryBody, ctx: Ctx) -> JSONResponse:
    intervals = await operations.task_run_history(
        ctx,
        body,
        body.history_start,
        body.history_end,
        body.history_interval_seconds.total_seconds(),
    )
    return respond_many(intervals)


@router.post(
    "/{id}/set_state",
    response_model=OrchestrationResult,
    responses=also(201, OrchestrationResult, "The proposed state was accepted."),
)
async def set_state(id: uuid.UUID, body: SetStateRequest, ctx: Ctx) -> Response:
    result = await operations.set_task_run_state(ctx, id, body.state, body.force)
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


@router.patch("/{id}", status_code=204)
async def update_task_run(id: uuid.UUID, update: actions.TaskRunUpdate, ctx: Ctx) -> Response:
    await operations.update_task_run(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_task_run(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_task_run(ctx, id)
    return no_content()
