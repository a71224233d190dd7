"""/logs: batch ingestion and filtered reads."""

from __future__ import annotations

from fastapi import APIRouter, Body, Request
from pydantic import TypeAdapter

from flowyard.schemas import actions, core
from flowyard.schemas.filters import LogFilter, Page
from flowyard.schemas.sorting import LogSort
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, respond_many
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.queries import logs as queries

router = APIRouter(prefix="/logs", tags=["Logs"])

LOG_BATCH = TypeAdapter(list[actions.LogCreate])


class LogFilterBody(Page):
    logs: LogFilter | None = None
    sort: LogSort = LogSort.TIMESTAMP_ASC


@router.post(
    "/",
    status_code=201,
    openapi_extra=documented_body(LOG_BATCH),
)
async def create_logs(request: Request, ctx: Ctx) -> JSONResponse:
    # Parsed from raw bytes: this is the hottest write route a flow run uses.
    logs = await parse_body(request, LOG_BATCH)
    async with ctx.db.write() as session:
        await queries.create_logs(session, ctx.workspace_id, logs)
    return JSONResponse(None, status_code=201)


@router.post("/filter", response_model=list[core.Log])
async def read_logs(
    request: Request, ctx: Ctx, body: LogFilterBody = Body(default_factory=LogFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.log_conditions(ctx.workspace_id, body.logs, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_logs(session, conditions, body.sort, limit, body.offset)
    return respond_many(core.Log.from_row(row) for row in rows)
