"""/ui/*: the helper routes Prefect's own UI calls (not part of the published contract,
but a UI built against Prefect expects them)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Response
from pydantic import AliasChoices, Field

from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import RunFilters
from flowyard.schemas.sorting import FlowRunSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse
from flowyard.server.operations import ui as operations

router = APIRouter(prefix="/ui", tags=["UI"])
MAX_POINTS = 1_000
MAX_IDS = 200


class FlowRunPointsBody(RunFilters):
    sort: FlowRunSort = FlowRunSort.EXPECTED_START_TIME_DESC
    limit: int = Field(default=MAX_POINTS, ge=0, le=MAX_POINTS)
    offset: int = Field(default=0, ge=0, le=2**31)


class FlowRunIds(ActionModel):
    flow_run_ids: list[uuid.UUID] = Field(max_length=MAX_IDS)


class FlowIds(ActionModel):
    flow_ids: list[uuid.UUID] = Field(max_length=MAX_IDS)


class SchemaValues(ActionModel):
    # Prefect's UI sends ``json_schema``; older versions sent ``schema``.
    json_schema: dict[str, Any] = Field(validation_alias=AliasChoices("json_schema", "schema"))
    values: dict[str, Any]


def _by_id(mapping: dict[uuid.UUID, Any]) -> JSONResponse:
    return JSONResponse({str(key): value for key, value in mapping.items()})


@router.post("/flow_runs/history", response_model=list[dict[str, Any]])
async def flow_run_points(
    ctx: Ctx, body: FlowRunPointsBody = Body(default_factory=FlowRunPointsBody)
) -> JSONResponse:
    points = await operations.flow_run_points(ctx, body, body.sort, body.limit, body.offset)
    return JSONResponse(points)


@router.post("/flow_runs/count-task-runs", response_model=dict[uuid.UUID, int])
async def count_task_runs(ctx: Ctx, body: FlowRunIds) -> JSONResponse:
    return _by_id(await operations.count_task_runs_of(ctx, body.flow_run_ids))


@router.post("/flows/count-deployments", response_model=dict[uuid.UUID, int])
async def count_deployments(ctx: Ctx, body: FlowIds) -> JSONResponse:
    return _by_id(await operations.count_deployments_of(ctx, body.flow_ids))


@router.post(
    "/flows/next-runs", response_model=dict[uuid.UUID, dict[str, Any] | None]
)
async def next_runs(ctx: Ctx, body: FlowIds) -> JSONResponse:
    return _by_id(await operations.next_runs_of(ctx, body.flow_ids))


@router.post("/task_runs/dashboard/counts", response_model=list[dict[str, Any]])
async def task_run_dashboard_counts(ctx: Ctx, body: RunFilters = Body(...)) -> JSONResponse:
    return JSONResponse(await operations.task_run_dashboard_counts(ctx, body))


@router.post("/task_runs/count", response_model=dict[str, int])
async def task_run_counts(
    ctx: Ctx, body: RunFilters = Body(default_factory=RunFilters)
) -> JSONResponse:
    return JSONResponse(await operations.task_run_counts_by_state(ctx, body))


@router.get("/task_runs/{id}", response_model=dict[str, Any])
async def read_task_run(id: uuid.UUID, ctx: Ctx) -> JSONResponse:
    return JSONResponse(await operations.read_task_run_with_flow_run_name(ctx, id))


@router.post("/schemas/validate", response_model=dict[str, Any])
async def validate_schema_values(ctx: Ctx, body: SchemaValues) -> Response:
    return JSONResponse(operations.validate_values(body.json_schema, body.values))
