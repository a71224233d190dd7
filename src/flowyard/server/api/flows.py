"""/flows: upsert by name, read, filter, count, paginate, update, delete, bulk delete. HTTP
only: each route parses, calls ``operations.flows`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response
from pydantic import Field

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import FlowFilter, Page, RunFilters
from flowyard.schemas.responses import BulkDeleteResponse, FlowPage, paginated
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
from flowyard.server.operations import flows as operations

router = APIRouter(prefix="/flows", tags=["Flows"])


class FlowFilterBody(Page, RunFilters):
    sort: FlowSort | None = FlowSort.NAME_ASC


class FlowPaginateBody(FlowFilterBody):
    page: int = 1


class FlowBulkDeleteBody(ActionModel):
    flows: FlowFilter | None = None
    limit: int = Field(default=50, ge=1, le=50)


@router.post(
    "/",
    status_code=201,
    response_model=core.Flow,
    responses=also(200, core.Flow, "The flow already existed."),
)
async def create_flow(flow: actions.FlowCreate, ctx: Ctx) -> JSONResponse:
    model, created = await operations.create_flow(ctx, flow)
    return respond(model, 201 if created else 200)


@router.get("/{id}", response_model=core.Flow)
async def read_flow(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_flow(ctx, id))


@router.get("/name/{name}", response_model=core.Flow)
async def read_flow_by_name(name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_flow_by_name(ctx, name))


@router.post("/filter", response_model=list[core.Flow])
async def read_flows(
    request: Request, ctx: Ctx, body: FlowFilterBody = Body(default_factory=FlowFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_flows(ctx, body, body.sort, limit, body.offset))


@router.post("/count", response_model=int)
async def count_flows(
    ctx: Ctx, body: FlowFilterBody = Body(default_factory=FlowFilterBody)
) -> JSONResponse:
    return JSONResponse(await operations.count_flows(ctx, body))


@router.post("/paginate", response_model=FlowPage)
async def paginate_flows(
    request: Request, ctx: Ctx, body: FlowPaginateBody = Body(default_factory=FlowPaginateBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    flows, count = await operations.paginate_flows(ctx, body, body.sort, limit, body.page)
    results = [flow.model_dump(mode="json") for flow in flows]
    return JSONResponse(paginated(results, count, limit, body.page))


@router.post("/bulk_delete", response_model=BulkDeleteResponse)
async def bulk_delete_flows(
    ctx: Ctx, body: FlowBulkDeleteBody = Body(default_factory=FlowBulkDeleteBody)
) -> JSONResponse:
    """Delete up to ``limit`` flows matching ``flows``, with their deployments and runs."""
    deleted = await operations.bulk_delete_flows(ctx, body.flows, body.limit)
    return JSONResponse({"deleted": [str(flow_id) for flow_id in deleted]})


@router.patch("/{id}", status_code=204)
async def update_flow(id: uuid.UUID, update: actions.FlowUpdate, ctx: Ctx) -> Response:
    await operations.update_flow(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_flow(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_flow(ctx, id)
    return no_content()
