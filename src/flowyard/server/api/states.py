"""/flow_run_states and /task_run_states: the state history of a run, oldest first."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Query

from flowyard.schemas.states import State
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, respond, respond_many
from flowyard.server.queries import states as queries

router = APIRouter(tags=["Flow Run States", "Task Run States"])


@router.get("/flow_run_states/", response_model=list[State])
async def read_flow_run_states(ctx: Ctx, flow_run_id: uuid.UUID = Query(...)) -> JSONResponse:
    async with ctx.db.read() as session:
        rows = await queries.read_flow_run_states(session, ctx.workspace_id, flow_run_id)
    return respond_many(queries.state_schema(row) for row in rows)


@router.get("/flow_run_states/{id}", response_model=State)
async def read_flow_run_state(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_flow_run_state(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, "Flow run state not found.")
    return respond(queries.state_schema(row))


@router.get("/task_run_states/", response_model=list[State])
async def read_task_run_states(ctx: Ctx, task_run_id: uuid.UUID = Query(...)) -> JSONResponse:
    async with ctx.db.read() as session:
        rows = await queries.read_task_run_states(session, ctx.workspace_id, task_run_id)
    return respond_many(queries.state_schema(row) for row in rows)


@router.get("/task_run_states/{id}", response_model=State)
async def read_task_run_state(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_task_run_state(session, ctx.workspace_id, id)
    if row is None:
        raise HTTPException(404, "Task run state not found.")
    return respond(queries.state_schema(row))
