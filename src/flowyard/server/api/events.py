"""/events: ingestion (REST and the ``/events/in`` websocket) and filtered reads."""

from __future__ import annotations

import base64
import logging

import orjson
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, WebSocket
from pydantic import Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from flowyard.schemas import core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import EventFilter
from flowyard.schemas.responses import EventPage
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, no_content
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.database import orm
from flowyard.server.events.pipeline import EventPipeline, write_events
from flowyard.server.queries import events as queries

logger = logging.getLogger("flowyard.server.api.events")

router = APIRouter(prefix="/events", tags=["Events"])

EVENT = TypeAdapter(core.Event)
EVENT_BATCH = TypeAdapter(list[core.Event])
MAX_PAGE = 50
POLICY_VIOLATION = 1008


class EventFilterBody(ActionModel):
    filter: EventFilter | None = None
    limit: int = Field(default=MAX_PAGE, ge=0, le=MAX_PAGE)


@router.post(
    "",
    status_code=204,
    openapi_extra=documented_body(EVENT_BATCH),
)
async def create_events(request: Request, ctx: Ctx) -> Response:
    # Written before answering: a 204 means stored, unlike the fire-and-forget websocket.
    events = await parse_body(request, EVENT_BATCH)
    batch = [(ctx.workspace_id, event) for event in events]
    async with ctx.db.write() as session:
        await write_events(session, batch)
    await _pipeline(request).notify(batch)
    return no_content()


@router.websocket("/in")
async def stream_events_in(websocket: WebSocket, ctx: Ctx) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="prefect" if "prefect" in offered else None)
    pipeline: EventPipeline = websocket.app.state.event_pipeline
    try:
        if not await _authenticate(websocket):
            return
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text") or message.get("bytes")
            if not data:
                continue
            try:
                event = EVENT.validate_json(data)
            except ValidationError as exc:
                logger.warning("Ignoring an invalid event frame: %s", exc.errors()[0]["msg"])
                continue
            # Waits while the pipeline is full: we stop reading and the client slows down.
            await pipeline.publish(ctx.workspace_id, event)
    except WebSocketDisconnect:
        return


async def _authenticate(websocket: WebSocket) -> bool:
    """The first frame must be ``{"type": "auth", "token": ...}``.

    Single-user mode accepts any token (the official client sends null); the multi-user
    authorization layer checks it here.
    """
    try:
        first = orjson.loads(await websocket.receive_text())
    except (orjson.JSONDecodeError, KeyError):
        first = None
    if not isinstance(first, dict) or first.get("type") != "auth":
        await _close(websocket, "Expected an auth message first.")
        return False
    await websocket.send_text('{"type":"auth_success"}')
    return True


async def _close(websocket: WebSocket, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        await websocket.close(code=POLICY_VIOLATION, reason=reason)


@router.post("/filter", response_model=EventPage)
async def read_events(
    request: Request, ctx: Ctx, body: EventFilterBody = Body(default_factory=EventFilterBody)
) -> JSONResponse:
    return await _page(request, ctx, body.filter or EventFilter(), body.limit, 0)


@router.get("/filter/next", response_model=EventPage)
async def read_next_events(
    request: Request, ctx: Ctx, page_token: str = Query(alias="page-token")
) -> JSONResponse:
    try:
        token = orjson.loads(base64.urlsafe_b64decode(page_token.encode()))
        flt = EventFilter.model_validate(token["filter"])
        limit, offset = int(token["limit"]), int(token["offset"])
    except (ValueError, KeyError, TypeError, ValidationError):
        raise HTTPException(403, "Invalid page token.") from None
    if not 0 <= limit <= MAX_PAGE or offset < 0:
        raise HTTPException(403, "Invalid page token.")
    return await _page(request, ctx, flt, limit, offset)


async def _page(
    request: Request, ctx: Ctx, flt: EventFilter, limit: int, offset: int
) -> JSONResponse:
    conditions = queries.event_conditions(ctx.workspace_id, flt, ctx.db.dialect)
    async with ctx.db.read() as session:
        rows = await queries.read_events(session, conditions, flt.order, limit, offset)
        total = await queries.count_events(session, conditions)
    next_page = None
    if offset + len(rows) < total and limit:
        next_page = _next_page_url(request, flt, limit, offset + len(rows))
    return JSONResponse(
        {"events": [_received(row) for row in rows], "total": total, "next_page": next_page}
    )


def _next_page_url(request: Request, flt: EventFilter, limit: int, offset: int) -> str:
    token = {"filter": flt.model_dump(mode="json"), "limit": limit, "offset": offset}
    encoded = base64.urlsafe_b64encode(orjson.dumps(token)).decode()
    base = request.url.path.rsplit("/filter", 1)[0]
    return str(request.url.replace(path=f"{base}/filter/next", query=f"page-token={encoded}"))


def _received(row: orm.Event) -> dict[str, object]:
    return {
        "id": str(row.id),
        "occurred": row.occurred,
        "event": row.event,
        "resource": row.resource,
        "related": row.related,
        "payload": row.payload,
        "follows": str(row.follows) if row.follows else None,
        "received": row.received,
    }


def _pipeline(request: Request) -> EventPipeline:
    pipeline: EventPipeline = request.app.state.event_pipeline
    return pipeline
