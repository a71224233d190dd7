"""/logs: batch ingestion, filtered reads and the live stream (``/logs/out``); and
``/flow_runs/{id}/logs/download``, a run's logs as a CSV file. HTTP only: each route calls
``operations.logs``."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import APIRouter, Body, Request, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from flowyard.schemas import actions, core
from flowyard.schemas.filters import LogFilter, Page
from flowyard.schemas.sorting import LogSort
from flowyard.server.api import websockets
from flowyard.server.api.dependencies import Ctx, WorkspaceContext
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import JSONResponse, respond_many
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.errors import DomainError
from flowyard.server.operations import logs as operations

logs = APIRouter(prefix="/logs", tags=["Logs"])
downloads = APIRouter(prefix="/flow_runs", tags=["Flow Runs"])

LOG_BATCH = TypeAdapter(list[actions.LogCreate])
DOWNLOAD_PAGE = 1_000
CSV_COLUMNS = ["timestamp", "level", "flow_run_id", "task_run_id", "message"]


class LogFilterBody(Page):
    logs: LogFilter | None = None
    sort: LogSort = LogSort.TIMESTAMP_ASC


@logs.post(
    "/",
    status_code=201,
    openapi_extra=documented_body(LOG_BATCH),
)
async def create_logs(request: Request, ctx: Ctx) -> JSONResponse:
    # Parsed from raw bytes: this is the hottest write route a flow run uses.
    batch = await parse_body(request, LOG_BATCH)
    await operations.create_logs(ctx, batch)
    return JSONResponse(None, status_code=201)


@logs.post("/filter", response_model=list[core.Log])
async def read_logs(
    request: Request, ctx: Ctx, body: LogFilterBody = Body(default_factory=LogFilterBody)
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    return respond_many(await operations.read_logs(ctx, body.logs, body.sort, limit, body.offset))


@logs.websocket("/out")
async def stream_logs_out(websocket: WebSocket, ctx: Ctx) -> None:
    """The workspace's logs matching the subscriber's filter: the recent stored ones
    (unless ``"backfill": false``), then each new one as it is committed."""
    try:
        if not await websockets.accept(websocket):
            return
        wanted = await websockets.read_filter(websocket)
        if wanted is None:
            return
        try:
            flt = LogFilter.model_validate(wanted[0])
        except ValidationError as exc:
            await websockets.close(websocket, websockets.PROTOCOL_ERROR, f"Invalid filter: {exc}")
            return
        async with operations.subscribe_logs(ctx, flt, wanted[1]) as feed:
            await websockets.pump(websocket, feed, "log")
    except WebSocketDisconnect:
        return
    except DomainError as exc:
        await websockets.close(websocket, websockets.POLICY_VIOLATION, exc.message)


@downloads.get("/{id}/logs/download")
async def download_logs(id: uuid.UUID, ctx: Ctx) -> StreamingResponse:
    """Every log of the flow run, oldest first, as a CSV file (the columns the official
    server writes), streamed a page at a time."""
    name = await operations.read_flow_run_for_logs(ctx, id)
    filename = quote(f"{name}-logs.csv", safe="")
    return StreamingResponse(
        _csv(ctx, id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"flow-run-logs.csv\"; filename*=UTF-8''{filename}"
            )
        },
    )


async def _csv(ctx: WorkspaceContext, flow_run_id: uuid.UUID) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for page in operations.iterate_flow_run_logs(ctx, flow_run_id, DOWNLOAD_PAGE):
        for log in page:
            writer.writerow(
                [log.timestamp, log.level, log.flow_run_id, log.task_run_id, log.message]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
    if buffer.tell():
        yield buffer.getvalue()


# The module's router: the /logs routes and the download under /flow_runs.
router = APIRouter()
router.include_router(logs)
router.include_router(downloads)
