"""``/work_pools/{name}/workers/connect``: the worker channel of the official worker (see
``schemas.worker_channel`` for the protocol).

A worker that cannot open the channel falls back to REST heartbeats and pool polling, so a
refusal is never fatal to it: the close reason tells it whether to retry (a transient
server error) or to stay on REST (authentication, version or protocol errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeVar

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from flowyard.schemas import worker_channel as channel
from flowyard.schemas.filters import EventFilter
from flowyard.server.api import websockets
from flowyard.server.api.dependencies import Ctx
from flowyard.server.errors import DomainError, NotFound
from flowyard.server.operations import events
from flowyard.server.operations import worker_channel as operations
from flowyard.server.operations.context import RequestContext
from flowyard.server.operations.streams import StreamLagging

logger = logging.getLogger("flowyard.server.api.worker_channel")
M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/work_pools", tags=["Work Pools"])

# Close codes and reasons the official worker knows (its WorkerChannelCloseReason).
UNSUPPORTED_VERSION = (websockets.POLICY_VIOLATION, "unsupported_version")
PROTOCOL_ERROR = (websockets.PROTOCOL_ERROR, "protocol_error")
TRANSIENT = (1011, "transient_server_error")
HEARTBEAT_FAILED = (1011, "heartbeat_persistence_failed")


class _Closed(Exception):
    def __init__(self, close: tuple[int, str]) -> None:
        super().__init__(close[1])
        self.code, self.reason = close


@router.websocket("/{name}/workers/connect")
async def worker_channel(websocket: WebSocket, name: str, ctx: Ctx) -> None:
    try:
        if not await websockets.accept(websocket, require_auth=True):
            return
        await _serve(websocket, ctx, name)
    except WebSocketDisconnect:
        return
    except _Closed as closed:
        await websockets.close(websocket, closed.code, closed.reason)


async def _serve(websocket: WebSocket, ctx: RequestContext, pool_name: str) -> None:
    hello = _parse(channel.Hello, await websockets.receive_json(websocket)).payload
    if channel.VERSION not in hello.supported_channel_versions:
        raise _Closed(UNSUPPORTED_VERSION)
    if not set(channel.REQUIRED_CAPABILITIES) <= set(hello.requested_capabilities):
        raise _Closed(PROTOCOL_ERROR)
    try:
        worker_id, queues, pool = await operations.open_channel(ctx, pool_name, hello)
    except NotFound:
        # Retried by the worker: the pool may be created in the meantime.
        raise _Closed(TRANSIENT) from None
    except DomainError:
        raise _Closed(PROTOCOL_ERROR) from None
    pool_filter = EventFilter.model_validate(
        {"resource": {"id": [f"prefect.work-pool.{pool.id}"]}}
    )
    source = websocket.app.state.event_pipeline
    # Subscribed before answering ready: no change after the first snapshot is missed.
    async with events.subscribe_events(ctx, source, pool_filter, backfill=False) as feed:
        accepted = list(channel.REQUIRED_CAPABILITIES)
        ready = channel.Ready(
            payload=channel.ReadyPayload(
                consumer_id=hello.consumer_id,
                worker_id=worker_id,
                effective_heartbeat_interval_seconds=hello.heartbeat_interval_seconds,
                accepted_capabilities=accepted,
                rejected_capabilities=[
                    c for c in dict.fromkeys(hello.requested_capabilities) if c not in accepted
                ],
                resolved_work_queues=queues,
                initial_snapshot=channel.Snapshot(
                    snapshot_sequence=1, reason="initial", work_pool=pool
                ),
            )
        )
        await _send(websocket, ready)
        beats = asyncio.ensure_future(_receive_heartbeats(websocket, ctx, pool_name))
        try:
            await _send_snapshots(websocket, ctx, pool_name, feed, beats)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beats


async def _receive_heartbeats(websocket: WebSocket, ctx: RequestContext, pool_name: str) -> None:
    """Record each heartbeat frame until the worker leaves."""
    while True:
        beat = _parse(channel.Heartbeat, await websockets.receive_json(websocket))
        try:
            await operations.channel_heartbeat(ctx, pool_name, beat.payload)
        except NotFound:
            raise _Closed(TRANSIENT) from None
        except DomainError:
            raise _Closed(HEARTBEAT_FAILED) from None


async def _send_snapshots(
    websocket: WebSocket,
    ctx: RequestContext,
    pool_name: str,
    feed: Any,
    beats: asyncio.Future[None],
) -> None:
    """A fresh snapshot after each event about the pool (updated, paused, ready, ...), until
    the heartbeat side ends (the worker left, or sent something else)."""
    sequence = 1
    while True:
        following = asyncio.ensure_future(anext(feed))
        await asyncio.wait({following, beats}, return_when=asyncio.FIRST_COMPLETED)
        if beats.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await following
            beats.result()  # raises what ended it: a disconnect or a close
            return
        try:
            event = following.result()
        except StopAsyncIteration:
            return
        except StreamLagging:
            raise _Closed(TRANSIENT) from None
        try:
            pool = await operations.pool_snapshot(ctx, pool_name)
        except NotFound:
            raise _Closed(TRANSIENT) from None  # deleted: the worker reconnects or falls back
        sequence += 1
        snapshot = channel.Snapshot(snapshot_sequence=sequence, reason=event.event, work_pool=pool)
        await _send(websocket, channel.SnapshotFrame(payload=snapshot))


def _parse(model: type[M], message: Any) -> M:
    try:
        return model.model_validate(message)
    except ValidationError:
        raise _Closed(PROTOCOL_ERROR) from None


async def _send(websocket: WebSocket, frame: BaseModel) -> None:
    await websocket.send_text(frame.model_dump_json())
