"""/flow_runs: create (idempotent), read, filter, count, paginate, history, set_state,
update, labels, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import Field, TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import FlowRunFilter, Page, RunFilters
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import OrchestrationResult, SetStateRequest, SetStateStatus
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond_many
from flowyard.server.api.runs_common import (
    RunHistoryBody,
    respond_list,
    respond_model,
    respond_page,
)
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.dispatch import prepare_queued_run
from flowyard.server.orchestration.transitions import insert_new_flow_run, set_flow_run_state
from flowyard.server.queries import flow_runs as queries
from flowyard.server.queries import history
from flowyard.server.queries.deployments import deployment_exists
from flowyard.server.queries.run_filters import flow_run_conditions

router = APIRouter(prefix="/flow_runs", tags=["Flow Runs"])

NOT_FOUND = "Flow run not found."
# The bodies of the two routes every flow run calls are validated straight from the request
# bytes (see api.validation): one pass in pydantic-core instead of json.loads then validate.
CREATE_BODY = TypeAdapter(actions.FlowRunCreate)
SET_STATE_BODY = TypeAdapter(SetStateRequest)

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


@router.post(
    "/",
    status_code=201,
    response_model=core.FlowRun,
    openapi_extra=documented_body(CREATE_BODY),
)
async def create_flow_run(request: Request, ctx: Ctx) -> Response:
    create = await parse_body(request, CREATE_BODY)
    async with ctx.db.write() as session:
        # A run may only name a deployment of its own workspace: the run's pages, blockers
        # and worker would otherwise read another workspace's deployment through it.
        if create.deployment_id is not None and not await deployment_exists(
            session, ctx.workspace_id, create.deployment_id
        ):
            raise HTTPException(
                404, f"deployment_id: no deployment {create.deployment_id} in this workspace."
            )
        result = await _create_or_find(session, ctx.workspace_id, create, ctx.db.is_sqlite)
    if result is None:
        raise HTTPException(404, f"flow_id: no flow {create.flow_id} in this workspace.")
    run, created = result
    return respond_model(run, 201 if created else 200)


# Declared right after create: routes are tried in declaration order, and these two are the
# ones every flow run calls.
@router.post(
    "/{id}/set_state",
    response_model=OrchestrationResult,
    openapi_extra=documented_body(SET_STATE_BODY),
)
async def set_state(id: uuid.UUID, request: Request, ctx: Ctx) -> Response:
    body = await parse_body(request, SET_STATE_BODY)
    async with ctx.db.write() as session:
        result = await set_flow_run_state(
            session, ctx.workspace_id, id, body.state, force=body.force
        )
    if result is None:
        raise HTTPException(404, NOT_FOUND)
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


async def _create_or_find(
    session: AsyncSession, workspace_id: uuid.UUID, create: actions.FlowRunCreate, sqlite: bool
) -> tuple[core.FlowRun, bool] | None:
    """The new run and True, or the run already holding the idempotency key and False."""
    key = create.idempotency_key
    if key is None:
        return await _insert(session, workspace_id, create)
    existing = await queries.read_flow_run_by_idempotency_key(
        session, workspace_id, create.flow_id, key
    )
    if existing is not None:
        return queries.flow_run_schema_from_row(existing), False
    if sqlite:
        # Writes are serialised on SQLite: nobody can take the key between read and insert.
        return await _insert(session, workspace_id, create)
    try:
        async with session.begin_nested():
            return await _insert(session, workspace_id, create)
    except IntegrityError:
        # A concurrent request created a run with this key first: answer with that one.
        existing = await queries.read_flow_run_by_idempotency_key(
            session, workspace_id, create.flow_id, key
        )
        if existing is None:
            raise
        return queries.flow_run_schema_from_row(existing), False


async def _insert(
    session: AsyncSession, workspace_id: uuid.UUID, create: actions.FlowRunCreate
) -> tuple[core.FlowRun, bool] | None:
    run = await queries.create_flow_run(session, workspace_id, create)
    if run is None:
        return None
    await prepare_queued_run(session, workspace_id, run)  # link to its queue, wake workers
    state = await insert_new_flow_run(session, run, create.state)
    return queries.flow_run_schema(run, state), True


@router.get("/{id}", response_model=core.FlowRun)
async def read_flow_run(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.read() as session:
        row = await queries.read_flow_run_with_state(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond_model(queries.flow_run_schema_from_row(row))


@router.post("/filter", response_model=list[core.FlowRun])
async def read_flow_runs(
    request: Request, ctx: Ctx, body: FlowRunFilterBody = Body(default_factory=FlowRunFilterBody)
) -> Response:
    limit = clamp_limit(request, body.limit)
    conditions = flow_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_flow_runs(
            session, conditions, body.sort or FlowRunSort.ID_DESC, limit, body.offset
        )
    now = utcnow()
    return respond_list([queries.flow_run_schema_from_row(row, now) for row in rows], core.FlowRun)


@router.post("/count", response_model=int)
async def count_flow_runs(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    conditions = flow_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_flow_runs(session, conditions))


@router.post("/paginate")
async def paginate_flow_runs(
    request: Request,
    ctx: Ctx,
    body: FlowRunPaginateBody = Body(default_factory=FlowRunPaginateBody),
) -> Response:
    limit = clamp_limit(request, body.limit)
    conditions = flow_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        count = await queries.count_flow_runs(session, conditions)
        rows = await queries.read_flow_runs(
            session, conditions, body.sort or FlowRunSort.ID_DESC, limit, (body.page - 1) * limit
        )
    now = utcnow()
    results = [queries.flow_run_schema_from_row(row, now) for row in rows]
    return respond_page(results, core.FlowRun, count, limit, body.page)


@router.post("/history", response_model=list[core.HistoryInterval])
async def flow_run_history(body: RunHistoryBody, ctx: Ctx) -> JSONResponse:
    conditions = flow_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        intervals = await history.read_run_history(
            session,
            orm.FlowRun,
            conditions,
            body.history_start,
            body.history_end,
            body.history_interval_seconds.total_seconds(),
            ctx.db.dialect,
        )
    return respond_many(intervals)


@router.post("/lateness", response_model=float | None)
async def average_flow_run_lateness(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    conditions = flow_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        value = await history.average_lateness(
            session, orm.FlowRun, conditions, ctx.db.dialect
        )
    return JSONResponse(value)


@router.patch("/{id}", status_code=204)
async def update_flow_run(id: uuid.UUID, update: actions.FlowRunUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.update_flow_run(session, ctx.workspace_id, id, update):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@router.patch("/{id}/labels", status_code=204)
async def update_flow_run_labels(
    id: uuid.UUID, ctx: Ctx, labels: dict[str, LabelValue] = Body(...)
) -> Response:
    async with ctx.db.write() as session:
        if not await queries.update_flow_run_labels(session, ctx.workspace_id, id, labels):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_flow_run(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_flow_run(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@router.post("/bulk_delete")
async def bulk_delete_flow_runs(
    ctx: Ctx, body: FlowRunBulkDeleteBody = Body(default_factory=FlowRunBulkDeleteBody)
) -> JSONResponse:
    filters = RunFilters(flow_runs=body.flow_runs)
    conditions = flow_run_conditions(ctx.workspace_id, filters, ctx.db.dialect)
    async with ctx.db.write() as session:
        ids = await queries.read_flow_run_ids(session, conditions, body.limit)
        deleted = await queries.delete_flow_runs(session, ctx.workspace_id, ids)
    return JSONResponse({"deleted": [str(i) for i in deleted]})

