"""/flow_runs: create (idempotent), read, filter, count, paginate, history, set_state,
update, labels, delete. HTTP only: each route parses, calls ``operations.flow_runs`` and
shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response
from pydantic import Field, TypeAdapter

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import FlowRunFilter, Page, RunFilters
from flowyard.schemas.flow_run_control import FlowRunSetStateRequest
from flowyard.schemas.history import RunHistoryBody
from flowyard.schemas.responses import BulkDeleteResponse, FlowRunPage
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import (
    FlowRunBulkSetStateResponse,
    FlowRunOrchestrationResult,
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateCreate,
)
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, also, no_content, respond_many
from flowyard.server.api.runs_common import respond_list, respond_model, respond_page
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.operations import flow_runs as operations

router = APIRouter(prefix="/flow_runs", tags=["Flow Runs"])

# The bodies of the two routes every flow run calls are validated straight from the request
# bytes (see api.validation): one pass in pydantic-core instead of json.loads then validate.
CREATE_BODY = TypeAdapter(actions.FlowRunCreate)
SET_STATE_BODY = TypeAdapter(FlowRunSetStateRequest)

LabelValue = bool | int | float | str


class FlowRunFilterBody(RunFilters, Page):
    sort: FlowRunSort | None = FlowRunSort.ID_DESC


class FlowRunPaginateBody(RunFilters):
    sort: FlowRunSort | None = FlowRunSort.ID_DESC
    limit: int | None = Field(default=None, ge=0)
    page: int = Field(default=1, ge=1)


class FlowRunBulkDeleteBody(ActionModel):
    flow_runs: FlowRunFilter | None = None
    limit: int = Field(default=50, ge=1, le=50)


class FlowRunBulkSetStateBody(ActionModel):
    flow_runs: FlowRunFilter | None = None
    state: StateCreate
    force: bool = False
    limit: int = Field(default=50, ge=1, le=50)


@router.post(
    "/",
    status_code=201,
    response_model=core.FlowRun,
    responses=also(200, core.FlowRun, "A run with this idempotency key already existed."),
    openapi_extra=documented_body(CREATE_BODY),
)
async def create_flow_run(request: Request, ctx: Ctx) -> Response:
    create = await parse_body(request, CREATE_BODY)
    run, created = await operations.create_flow_run(ctx, create)
    return respond_model(run, 201 if created else 200)


# Declared right after create: routes are tried in declaration order, and these two are the
# ones every flow run calls.
@router.post(
    "/{id}/set_state",
    response_model=OrchestrationResult,
    responses=also(201, OrchestrationResult, "The proposed state was accepted."),
    openapi_extra=documented_body(SET_STATE_BODY),
)
async def set_state(id: uuid.UUID, request: Request, ctx: Ctx) -> Response:
    body = await parse_body(request, SET_STATE_BODY)
    result = await operations.set_flow_run_state(ctx, id, body.state, body.force, body.lease)
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


@router.get("/{id}", response_model=core.FlowRun)
async def read_flow_run(id: uuid.UUID, ctx: Ctx) -> Response:
    return respond_model(await operations.read_flow_run(ctx, id))


@router.post("/filter", response_model=list[core.FlowRun])
async def read_flow_runs(
    request: Request, ctx: Ctx, body: FlowRunFilterBody = Body(default_factory=FlowRunFilterBody)
) -> Response:
    limit = clamp_limit(request, body.limit)
    runs = await operations.read_flow_runs(ctx, body, body.sort, limit, body.offset)
    return respond_list(runs, core.FlowRun)


@router.post("/count", response_model=int)
async def count_flow_runs(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    return JSONResponse(await operations.count_flow_runs(ctx, body))


@router.post("/paginate", response_model=FlowRunPage)
async def paginate_flow_runs(
    request: Request,
    ctx: Ctx,
    body: FlowRunPaginateBody = Body(default_factory=FlowRunPaginateBody),
) -> Response:
    limit = clamp_limit(request, body.limit)
    runs, count = await operations.paginate_flow_runs(ctx, body, body.sort, limit, body.page)
    return respond_page(runs, core.FlowRun, count, limit, body.page)


@router.post("/history", response_model=list[core.HistoryInterval])
async def flow_run_history(body: RunHistoryBody, ctx: Ctx) -> JSONResponse:
    intervals = await operations.flow_run_history(
        ctx,
        body,
        body.history_start,
        body.history_end,
        body.history_interval_seconds.total_seconds(),
    )
    return respond_many(intervals)


@router.post("/lateness", response_model=float | None)
async def average_flow_run_lateness(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    return JSONResponse(await operations.average_flow_run_lateness(ctx, body))


@router.patch("/{id}", status_code=204)
async def update_flow_run(id: uuid.UUID, update: actions.FlowRunUpdate, ctx: Ctx) -> Response:
    await operations.update_flow_run(ctx, id, update)
    return no_content()


@router.patch("/{id}/labels", status_code=204)
async def update_flow_run_labels(
    id: uuid.UUID, ctx: Ctx, labels: dict[str, LabelValue] = Body(...)
) -> Response:
    await operations.update_flow_run_labels(ctx, id, labels)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_flow_run(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_flow_run(ctx, id)
    return no_content()


@router.post("/bulk_delete", response_model=BulkDeleteResponse)
async def bulk_delete_flow_runs(
    ctx: Ctx, body: FlowRunBulkDeleteBody = Body(default_factory=FlowRunBulkDeleteBody)
) -> JSONResponse:
    deleted = await operations.bulk_delete_flow_runs(ctx, body.flow_runs, body.limit)
    return JSONResponse({"deleted": [str(i) for i in deleted]})


@router.post("/bulk_set_state", response_model=FlowRunBulkSetStateResponse)
async def bulk_set_flow_run_state(body: FlowRunBulkSetStateBody, ctx: Ctx) -> Response:
    """Propose one state for up to ``limit`` runs matching the filter, each through the
    policy (``force``: the minimal one); the outcome of each run is its own."""
    matching = RunFilters(flow_runs=body.flow_runs)
    runs = await operations.read_flow_runs(ctx, matching, None, body.limit)
    outcomes = await operations.bulk_set_flow_run_state(
        ctx, [run.id for run in runs], body.state, body.force
    )
    gone = StateAbortDetails(reason="Flow run not found.")
    results = [
        FlowRunOrchestrationResult(flow_run_id=run_id, status=SetStateStatus.ABORT, details=gone)
        if result is None
        else FlowRunOrchestrationResult(flow_run_id=run_id, **dict(result))
        for run_id, result in outcomes
    ]
    return respond_model(FlowRunBulkSetStateResponse(results=results))
