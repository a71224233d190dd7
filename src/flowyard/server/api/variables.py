"""/variables: named JSON values, by id and by name."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Body, HTTPException, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import Page, VariableFilter
from flowyard.schemas.sorting import VariableSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, no_content, respond, respond_many
from flowyard.server.database import orm
from flowyard.server.queries import variables as queries

router = APIRouter(prefix="/variables", tags=["Variables"])

NOT_FOUND = "Variable not found."


class VariableFilterBody(Page):
    variables: VariableFilter | None = None
    sort: VariableSort = VariableSort.NAME_ASC


class VariableCountBody(ActionModel):
    variables: VariableFilter | None = None


def _name_taken(name: str) -> str:
    return f"A variable named {name!r} already exists."


@router.post("/", status_code=201, response_model=core.Variable)
async def create_variable(variable: actions.VariableCreate, ctx: Ctx) -> JSONResponse:
    async with ctx.db.write() as session:
        row = await queries.create_variable(session, ctx.workspace_id, variable)
    if row is None:
        raise HTTPException(409, _name_taken(variable.name))
    return respond(core.Variable.from_row(row), 201)


@router.post("/filter", response_model=list[core.Variable])
async def read_variables(
    request: Request, ctx: Ctx, body: VariableFilterBody = Body(default_factory=VariableFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.variable_conditions(ctx.workspace_id, body.variables, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_variables(session, conditions, body.sort, limit, body.offset)
    return respond_many(core.Variable.from_row(row) for row in rows)


@router.post("/count", response_model=int)
async def count_variables(
    ctx: Ctx, body: VariableCountBody = Body(default_factory=VariableCountBody)
) -> JSONResponse:
    conditions = queries.variable_conditions(ctx.workspace_id, body.variables, ctx.db.dialect)
    async with ctx.db.read() as session:
        return JSONResponse(await queries.count_variables(session, conditions))


async def _by_id(session: AsyncSession, ctx: Ctx, variable_id: uuid.UUID) -> orm.Variable:
    row = await queries.read_variable(session, ctx.workspace_id, variable_id)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def _by_name(session: AsyncSession, ctx: Ctx, name: str) -> orm.Variable:
    row = await queries.read_variable_by_name(session, ctx.workspace_id, name)
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


async def _update(
    session: AsyncSession, ctx: Ctx, row: orm.Variable, update: actions.VariableUpdate
) -> None:
    new_name = update.name if update.name != row.name else None
    if new_name and await queries.read_variable_by_name(session, ctx.workspace_id, new_name):
        raise HTTPException(409, _name_taken(new_name))
    await queries.update_variable(session, ctx.workspace_id, row.id, update)


@router.get("/name/{name}", response_model=core.Variable)
async def read_variable_by_name(name: str, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await _by_name(session, ctx, name)
    return respond(core.Variable.from_row(row))


@router.patch("/name/{name}", status_code=204)
async def update_variable_by_name(
    name: str, update: actions.VariableUpdate, ctx: Ctx
) -> Response:
    async with ctx.db.write() as session:
        await _update(session, ctx, await _by_name(session, ctx, name), update)
    return no_content()


@router.delete("/name/{name}", status_code=204)
async def delete_variable_by_name(name: str, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        row = await _by_name(session, ctx, name)
        await queries.delete_variable(session, ctx.workspace_id, row.id)
    return no_content()


@router.get("/{id}", response_model=core.Variable)
async def read_variable(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await _by_id(session, ctx, id)
    return respond(core.Variable.from_row(row))


@router.patch("/{id}", status_code=204)
async def update_variable(id: uuid.UUID, update: actions.VariableUpdate, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        await _update(session, ctx, await _by_id(session, ctx, id), update)
    return no_content()


@router.delete("/{id}", status_code=204)
async def delete_variable(id: uuid.UUID, ctx: Ctx) -> Response:
    async with ctx.db.write() as session:
        if not await queries.delete_variable(session, ctx.workspace_id, id):
            raise HTTPException(404, NOT_FOUND)
    return no_content()
