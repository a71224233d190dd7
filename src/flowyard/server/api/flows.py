"""/flows: upsert by name, read, filter, count, paginate, update, delete."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response

from flowyard.schemas import actions, core
from flowyard.schemas.filters import Page, RunFilters
from flowyard.schemas.responses import FlowPage, paginated
from flowyard.schemas.sorting import FlowSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import (
    JSONResponse,
    also,
    no_content,
    respond,
    respond_many,
)
from flowyard.server.queries import flows as queries

router = APIRouter(prefix="/flows", tags=["Flows"])


class FlowFilterBody(Page, RunFilters):
    sort: FlowSort | None = FlowSort.NAME_ASC


class FlowPaginateBody(FlowFilterBody):
    page: int = 1


@router.post(
    "/",
    status_code=201,
    response_model=core.Flow,
    responses=also(200, core.Flow, "The flow already existed."),
)
async def create_flow(flow: actions.FlowCreate, ctx: Ctx) -> JSONResponse:
    async with ctx.db.write() as session:
        row, created = await queries.create_flow(session, ctx.workspace_id, flow)
    return respond(core.Flow.from_row(row), 201 if created else 200)


@router.get("/{id}", response_model=core.Flow)
async def read_flow(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_flow(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, "Flow not found.")
    return respond(core.Flow.from_row(row))


@router.get("/name/{name}", response_model=core.Flow)
async def read_flow_by_name(name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_flow_by_name(session, ctx.workspace_id, name)
    if row is None:
        raise HTTPException(404, "Flow not found.")
    return respond(core.Flow.from_row(row))


@router.post("/filter", response_model=list[core.Flow])
async def read_flows(
    request: Request, ctx: Ctx, body: FlowFilterBody = Body(default_factory=FlowFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        conditions = queries.flow_conditions(ctx.workspace_id, body, ctx.db.dialect)
        rows = await queries.read_flows(
            session, ctx.workspace_id, conditions, body.sort, limit, body.offset
        )
    return respond_many(core.Flow.from_row(r) for r in rows)


@router.post("/count", response_model=int)
async def count_flows(
    ctx: Ctx, body: FlowFilterBody = Body(default_factory=FlowFilterBody)
) -> JSONResponse:
    async with ctx.db.read() as session:
        conditions = queries.flow_conditions(ctx.workspace_id, body, ctx.db.dialect)
        return JSONResponse(await queries.count_flows(session, conditions))


@router.post("/paginate", response_model=FlowPage)
async def paginate_flows(
    request: Request, ctx: Ctx, body: FlowPaginateBody = Body(default_factory=FlowPaginateBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    async with ctx.db.read() as session:
        conditions = queries.flow_conditions(ctx.workspace_id, body, ctx.db.dialect)
        count = await queries.count_flows(session, conditions)
        rows = await queries.read_flows(
            session, ctx.workspace_id, conditions, body.sort, limit, (body.page - 1) * limit
        )
    results = [core.Flow.from_row(r).model_dump(mode="json") for r in rows]
    return JSONResponse(paginated(results, count, limit, body.page))


@router.patch("/{id}", status_code=204)
async def update_flow(id: uuid.UUID, update: actions.FlowUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.update_flow(session, ctx.workspace_id, id, update):
            raise HTTPException(404, "Flow not found.")
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_flow(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_flow(session, ctx.workspace_id, id):
            raise HTTPException(404, "Flow not found.")
    return no_content()
