"""/flow_runs/{id}/graph-v2 and /flow_runs/{id}/graph: what the run page draws."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Query, Response

from flowyard.schemas.graph import DependencyResult, Graph
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.runs_common import respond_list, respond_model
from flowyard.server.operations import flow_run_graph as operations

router = APIRouter(prefix="/flow_runs", tags=["Flow Runs", "Flow Run Graph"])
# The contract's default: the start of time, meaning "every node".
EVERYTHING = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


@router.get("/{id}/graph-v2", response_model=Graph)
async def read_flow_run_graph_v2(
    id: uuid.UUID,
    ctx: Ctx,
    since: dt.datetime = Query(EVERYTHING, description="Only runs that end after this time."),
) -> Response:
    bound = None if since <= EVERYTHING else since
    return respond_model(await operations.read_flow_run_graph(ctx, id, bound))


@router.get("/{id}/graph", response_model=list[DependencyResult])
async def read_flow_run_graph_v1(id: uuid.UUID, ctx: Ctx) -> Response:
    return respond_list(await operations.read_flow_run_dependencies(ctx, id), DependencyResult)
