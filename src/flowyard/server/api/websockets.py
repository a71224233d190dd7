"""The websocket protocol the official client speaks (``/events/in``, ``/events/out``,
``/logs/out``): accept, authenticate, read the filter, then pump a feed to the socket.

A client offering the ``prefect`` subprotocol first sends ``{"type": "auth", "token": ...}``
and is answered ``{"type": "auth_success"}``; one offering none is served without the
handshake, as Prefect serves older clients -- unless the server has an API key the upgrade
did not carry: then every client must send the auth frame, whose token the request guard
checks (``server/auth/websocket_auth.py``) before the frame reaches this module. A
subscriber then sends ``{"type": "filter", "filter": {...}, "backfill": true}`` and receives
``{"type": "event", "event": {...}}`` (or ``"log"``) messages until it disconnects. A
subscriber that falls too far behind is disconnected with 1013 (try again later): the
official client reconnects and catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from flowyard.server.auth.websocket_auth import requires_auth_frame
from flowyard.server.operations.streams import StreamLagging

PROTOCOL_ERROR = 1002
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


async def accept(websocket: WebSocket, *, require_auth: bool = False) -> bool:
    """Accept the socket and run the auth handshake; False when the socket was closed."""
    # The server puts the offered subprotocols in the scope (ASGI); the header is read too
    # for servers that leave it out.
    offered = list(websocket.scope.get("subprotocols") or ())
    offered += [
        part.strip()
        for header in websocket.headers.getlist("sec-websocket-protocol")
        for part in header.split(",")
    ]
    prefect = "prefect" in offered
    await websocket.accept(subprotocol="prefect" if prefect else None)
    if not (prefect or require_auth or requires_auth_frame(websocket.scope)):
        return True
    first = await receive_json(websocket)
    if not isinstance(first, dict) or first.get("type") != "auth":
        await close(websocket, POLICY_VIOLATION, "Expected an auth message first.")
        return False
    await websocket.send_text('{"type":"auth_success"}')
    return True


async def receive_json(websocket: WebSocket) -> Any:
    """The next message as JSON; None when it is not JSON."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    data = message.get("text") or message.get("bytes")
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None


async def read_filter(websocket: WebSocket) -> tuple[Any, bool] | None:
    """The subscriber's ``filter`` message: (its filter, whether it wants a backfill)."""
    message = await receive_json(websocket)
    if not isinstance(message, dict) or message.get("type") != "filter":
        await close(websocket, PROTOCOL_ERROR, "Expected 'filter' message")
        return None
    return message.get("filter") or {}, bool(message.get("backfill", True))


async def close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason)


async def _disconnected(websocket: WebSocket) -> None:
    # Subscribers send nothing after their filter: any message, or the close, ends it.
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


async def pump(websocket: WebSocket, feed: AsyncIterator[BaseModel], kind: str) -> None:
    """Send ``{"type": kind, kind: item}`` for each item of ``feed`` until the client
    leaves (or falls behind)."""
    gone = asyncio.ensure_future(_disconnected(websocket))
    try:
        while True:
            following = asyncio.ensure_future(anext(feed))
            await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            except StreamLagging as exc:
                await close(websocket, TRY_AGAIN_LATER, str(exc))
                return
            body = item.__pydantic_serializer__.to_json(item).decode()
            await websocket.send_text(f'{{"type":"{kind}","{kind}":{body}}}')
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client left while we were sending
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
