"""/events: ingestion (REST and the ``/events/in`` websocket), filtered reads, counts, and
the live stream (``/events/out``). HTTP only: each route calls ``operations.events``."""

from __future__ import annotations

import base64
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, WebSocket
from pydantic import Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from flowyard.schemas import core
from flowyard.schemas.base import ActionModel
from flowyard.schemas.event_ingest import EventIn
from flowyard.schemas.events import Countable, EventCount, EventCountRequest
from flowyard.schemas.filters import EventFilter
from flowyard.schemas.responses import EventPage
from flowyard.server.api import websockets
from flowyard.server.api.dependencies import Ctx
from flowyard.server.api.responses import JSONResponse, no_content, respond_many
from flowyard.server.api.validation import documented_body, parse_body
from flowyard.server.errors import DomainError
from flowyard.server.operations import events as operations

logger = logging.getLogger("flowyard.server.api.events")

router = APIRouter(prefix="/events", tags=["Events"])

# What clients send: bounded (see schemas.event_ingest); the events read back are core.Event.
EVENT = TypeAdapter(EventIn)
EVENT_BATCH = TypeAdapter(list[EventIn])
DEFAULT_PAGE = 50
# The contract's maximum is 50, but the official client's ``read_events()`` asks for 100 by
# default (and the official server refuses its own client): a page may hold up to this.
MAX_PAGE = 200


class EventFilterBody(ActionModel):
    filter: EventFilter | None = None
    limit: int = Field(default=DEFAULT_PAGE, ge=0, le=MAX_PAGE)


@router.post(
    "",
    status_code=204,
    openapi_extra=documented_body(EVENT_BATCH),
)
async def create_events(request: Request, ctx: Ctx) -> Response:
    # Written before answering: a 204 means stored, unlike the fire-and-forget websocket.
    events = await parse_body(request, EVENT_BATCH)
    await operations.create_events(ctx, events)
    return no_content()


@router.websocket("/in")
async def stream_events_in(websocket: WebSocket, ctx: Ctx) -> None:
    operations.authorize_ingest(ctx)
    pipeline = websocket.app.state.event_pipeline
    try:
        if not await websockets.accept(websocket, require_auth=True):
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


@router.websocket("/out")
async def stream_events_out(websocket: WebSocket, ctx: Ctx) -> None:
    """The workspace's events matching the subscriber's filter: the recent stored ones
    (unless ``"backfill": false``), then each new one as it is committed."""
    try:
        if not await websockets.accept(websocket):
            return
        wanted = await websockets.read_filter(websocket)
        if wanted is None:
            return
        try:
            flt = EventFilter.model_validate(wanted[0])
        except ValidationError as exc:
            await websockets.close(websocket, websockets.PROTOCOL_ERROR, f"Invalid filter: {exc}")
            return
        source = websocket.app.state.event_pipeline
        async with operations.subscribe_events(ctx, source, flt, wanted[1]) as feed:
            await websockets.pump(websocket, feed, "event")
    except WebSocketDisconnect:
        return
    except DomainError as exc:
        await websockets.close(websocket, websockets.POLICY_VIOLATION, exc.message)


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


@router.post("/count-by/{countable}", response_model=list[EventCount])
async def count_events(countable: Countable, body: EventCountRequest, ctx: Ctx) -> JSONResponse:
    """Matching events counted by the day or time bucket they occurred in (every bucket of
    the window, oldest first), or by event name or resource (most frequent first)."""
    counts = await operations.count_events(
        ctx, countable, body.filter, body.time_unit, body.time_interval
    )
    return respond_many(counts)


async def _page(
    request: Request, ctx: Ctx, flt: EventFilter, limit: int, offset: int
) -> JSONResponse:
    events, total = await operations.read_events(ctx, flt, limit, offset)
    next_page = None
    if offset + len(events) < total and limit:
        next_page = _next_page_url(request, flt, limit, offset + len(events))
    return JSONResponse(
        {"events": [_received(event) for event in events], "total": total, "next_page": next_page}
    )


def _next_page_url(request: Request, flt: EventFilter, limit: int, offset: int) -> str:
    token = {"filter": flt.model_dump(mode="json"), "limit": limit, "offset": offset}
    encoded = base64.urlsafe_b64encode(orjson.dumps(token)).decode()
    base = request.url.path.rsplit("/filter", 1)[0]
    return str(request.url.replace(path=f"{base}/filter/next", query=f"page-token={encoded}"))


def _received(event: core.Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurred": event.occurred,
        "event": event.event,
        "resource": event.resource,
        "related": event.related,
        "payload": event.payload,
        "follows": str(event.follows) if event.follows else None,
        "received": event.received,
    }
