"""/flow_run_states and /task_run_states: the state history of a run, oldest first."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from flowyard.schemas.states import State
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, respond, respond_many
from flowyard.server.operations import states as operations

router = APIRouter(tags=["Flow Run States", "Task Run States"])


@router.get("/flow_run_states/", response_model=list[State])
async def read_flow_run_states(ctx: Ctx, flow_run_id: uuid.UUID = Query(...)) -> JSONResponse:
    return respond_many(await operations.read_flow_run_states(ctx, flow_run_id))


@router.get("/flow_run_states/{id}", response_model=State)
async def read_flow_run_state(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_flow_run_state(ctx, id))


@router.get("/task_run_states/", response_model=list[State])
async def read_task_run_states(ctx: Ctx, task_run_id: uuid.UUID = Query(...)) -> JSONResponse:
    return respond_many(await operations.read_task_run_states(ctx, task_run_id))


@router.get("/task_run_states/{id}", response_model=State)
async def read_task_run_state(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return respond(await operations.read_task_run_state(ctx, id))
