"""/task_runs: create (an upsert), read, filter, count, paginate, history, set_state,
update, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.filters import Page, RunFilters
from flowyard.schemas.responses import TaskRunPage
from flowyard.schemas.sorting import TaskRunSort
from flowyard.schemas.states import OrchestrationResult, SetStateRequest, SetStateStatus
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, also, no_content, respond_many
from flowyard.server.api.runs_common import (
    RunHistoryBody,
    respond_list,
    respond_model,
    respond_page,
)
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.transitions import (
    apply_initial_task_run_state,
    set_task_run_state,
)
from flowyard.server.queries import history
from flowyard.server.queries import task_runs as queries
from flowyard.server.queries.run_filters import task_run_conditions

router = APIRouter(prefix="/task_runs", tags=["Task Runs"])

NOT_FOUND = "Task run not found."


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
    try:
        async with ctx.db.write() as session:
            run, created = await _create_or_find(
                session, ctx.workspace_id, create, ctx.db.is_sqlite
            )
    except queries.FlowRunNotFound:
        raise HTTPException(
            404, f"flow_run_id: no flow run {create.flow_run_id} in this workspace."
        ) from None
    except IntegrityError:
        # Only reachable with a client-chosen id that another workspace already uses.
        raise HTTPException(409, f"id: task run {create.id} already exists.") from None
    return respond_model(run, 201 if created else 200)


async def _create_or_find(
    session: AsyncSession, workspace_id: uuid.UUID, create: actions.TaskRunCreate, sqlite: bool
) -> tuple[core.TaskRun, bool]:
    """The new task run and True, or the one it duplicates and False."""
    existing = await queries.read_existing_task_run(session, workspace_id, create)
    if existing is not None:
        return queries.task_run_schema_from_row(existing), False
    if sqlite:
        # Writes are serialised on SQLite: nobody can insert between our read and insert.
        return await _insert(session, workspace_id, create)
    try:
        async with session.begin_nested():
            return await _insert(session, workspace_id, create)
    except IntegrityError:
        # A concurrent request inserted the same task run first: answer with that one.
        existing = await queries.read_existing_task_run(session, workspace_id, create)
        if existing is None:
            raise
        return queries.task_run_schema_from_row(existing), False


async def _insert(
    session: AsyncSession, workspace_id: uuid.UUID, create: actions.TaskRunCreate
) -> tuple[core.TaskRun, bool]:
    run = await queries.create_task_run(session, workspace_id, create)
    state = await apply_initial_task_run_state(session, run, create.state)
    await session.flush()
    return queries.task_run_schema(run, state), True


@router.get("/{id}", response_model=core.TaskRun)
async def read_task_run(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.read() as session:
        row = await queries.read_task_run_with_state(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return respond_model(queries.task_run_schema_from_row(row))


@router.post("/filter", response_model=list[core.TaskRun])
async def read_task_runs(
    request: Request, ctx: Ctx, body: TaskRunFilterBody = Body(default_factory=TaskRunFilterBody)
) -> Response:
    limit = clamp_limit(request, body.limit)
    conditions = task_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_task_runs(
            session, conditions, body.sort or TaskRunSort.ID_DESC, limit, body.offset
        )
    now = utcnow()
    return respond_list([queries.task_run_schema_from_row(row, now) for row in rows], core.TaskRun)


@router.post("/count", response_model=int)
async def count_task_runs(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    conditions = task_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_task_runs(session, conditions))


@router.post("/paginate", response_model=TaskRunPage)
async def paginate_task_runs(
    request: Request,
    ctx: Ctx,
    body: TaskRunPaginateBody = Body(default_factory=TaskRunPaginateBody),
) -> Response:
    limit = clamp_limit(request, body.limit)
    conditions = task_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        count = await queries.count_task_runs(session, conditions)
        rows = await queries.read_task_runs(
            session, conditions, body.sort or TaskRunSort.ID_DESC, limit, (body.page - 1) * limit
        )
    now = utcnow()
    results = [queries.task_run_schema_from_row(row, now) for row in rows]
    return respond_page(results, core.TaskRun, count, limit, body.page)


@router.post("/history", response_model=list[core.HistoryInterval])
async def task_run_history(body: RunHistoryBody, ctx: Ctx) -> JSONResponse:
    conditions = task_run_conditions(ctx.workspace_id, body, ctx.db.dialect)
    async with ctx.db.read() as session:
        intervals = await history.read_run_history(
            session,
            orm.TaskRun,
            conditions,
            body.history_start,
            body.history_end,
            body.history_interval_seconds.total_seconds(),
            ctx.db.dialect,
        )
    return respond_many(intervals)


@router.post(
    "/{id}/set_state",
    response_model=OrchestrationResult,
    responses=also(201, OrchestrationResult, "The proposed state was accepted."),
)
async def set_state(id: uuid.UUID, body: SetStateRequest, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        result = await set_task_run_state(
            session, ctx.workspace_id, id, body.state, force=body.force
        )
    if result is None:
        raise HTTPException(404, NOT_FOUND)
    return respond_model(result, 201 if result.status == SetStateStatus.ACCEPT else 200)


@router.patch("/{id}", status_code=204)
async def update_task_run(id: uuid.UUID, update: actions.TaskRunUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.update_task_run(session, ctx.workspace_id, id, update):
            raise HTTPException(404, NOT_FOUND)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_task_run(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_task_run(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
    return no_content()
