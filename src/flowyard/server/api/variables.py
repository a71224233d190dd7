"""/variables: named JSON values, by id and by name. HTTP only: each route parses, calls
``operations.variables`` and shapes the answer."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, Request, Response

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import Page, VariableFilter
from flowyard.schemas.sorting import VariableSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.operations import variables as operations

router = APIRouter(prefix="/variables", tags=["Variables"])


class VariableFilterBody(Page):
    variables: VariableFilter | None = None
    sort: VariableSort = VariableSort.NAME_ASC


class VariableCountBody(ActionModel):
    variables: VariableFilter | None = None


@router.post("/", status_code=201, response_model=core.Variable)
async def create_variable(variable: actions.VariableCreate, ctx: Ctx) -> JSONResponse:
    return respond(await operations.create_variable(ctx, variable), 201)


@router.post("/filter", response_model=list[core.Variable])
async def read_variables(
    request: Request, ctx: Ctx, body: VariableFilterBody = Body(default_factory=VariableFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    variables = await operations.read_variables(ctx, body.variables, body.sort, limit, body.offset)
    return respond_many(variables)


@router.post("/count", response_model=int)
async def count_variables(
    ctx: Ctx, body: VariableCountBody = Body(default_factory=VariableCountBody)
) -> JSONResponse:
    return JSONResponse(await operations.count_variables(ctx, body.variables))


@router.get("/name/{name}", response_model=core.Variable)
async def read_variable_by_name(name: str, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_variable_by_name(ctx, name))


@router.patch("/name/{name}", status_code=204)
async def update_variable_by_name(name: str, update: actions.VariableUpdate, ctx: Ctx) -> Response:
    await operations.update_variable_by_name(ctx, name, update)
    return no_content()


@router.delete("/name/{name}", status_code=204)
async def delete_variable_by_name(name: str, ctx: Ctx) -> Response:
    await operations.delete_variable_by_name(ctx, name)
    return no_content()


@router.get("/{id}", response_model=core.Variable)
async def read_variable(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_variable(ctx, id))


@router.patch("/{id}", status_code=204)
async def update_variable(id: uuid.UUID, update: actions.VariableUpdate, ctx: Ctx) -> Response:
    await operations.update_variable(ctx, id, update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_variable(id: uuid.UUID, ctx: Ctx) -> Response:
    await operations.delete_variable(ctx, id)
    return no_content()
