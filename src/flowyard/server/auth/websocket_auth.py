"""The key in a websocket's first frame, for upgrades that came without it.

The official client's websockets send ``{"type": "auth", "token": ...}`` as their first
frame and wait for ``{"type": "auth_success"}``; with ``PREFECT_API_KEY`` on a self-hosted
URL that is all they send (token ``null``), so the key can only be checked here. The route
still runs the handshake (``api/websockets.accept``, which reads the auth frame whenever
:func:`requires_auth_frame` says so); this wrapper, around the route's ``receive`` and
``send``, is what lets nothing through before the key: it checks the first frame itself,
and until then drops whatever the route would send but the accept.

A wrong or missing token is answered as Prefect's server answers it: the socket closes
with 1008 (policy violation) and a reason, which the official client reports as "Unable to
authenticate to the event stream".
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from flowyard.server.auth.api_key import ApiKey

POLICY_VIOLATION = 1008
AUTH_FRAME_REQUIRED = "flowyard.auth_frame_required"
# What a route may send before the client authenticated: accepting, closing, refusing.
PASSED_BEFORE_AUTH = frozenset(
    {
        "websocket.accept",
        "websocket.close",
        "websocket.http.response.start",
        "websocket.http.response.body",
    }
)


def requires_auth_frame(scope: Scope) -> bool:
    """Whether this websocket must send its key in its first frame."""
    return bool(scope.get(AUTH_FRAME_REQUIRED))


def _token_of(message: Message) -> tuple[bool, Any]:
    """(whether the frame is an auth message, its token)."""
    data = message.get("text") or message.get("bytes")
    try:
        frame = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return False, None
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        return False, None
    return True, frame.get("token")


class FirstFrameAuth:
    """``receive``/``send`` for a route, letting frames through only once the first one
    carried the key."""

    def __init__(self, api_key: ApiKey, receive: Receive, send: Send) -> None:
        self._api_key = api_key
        self._receive = receive
        self._send = send
        self._authenticated = False
        self._closed = False

    def mark(self, scope: Scope) -> Scope:
        return {**scope, AUTH_FRAME_REQUIRED: True}

    async def receive(self) -> Message:
        if self._closed:
            return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
        message = await self._receive()
        if self._authenticated or message["type"] != "websocket.receive":
            return message
        is_auth, token = _token_of(message)
        if not is_auth:
            return await self._close("Expected 'auth' message")
        if not token:
            return await self._close("Auth required but no token provided")
        if not self._api_key.accepts_token(token):
            return await self._close("Invalid token")
        self._authenticated = True
        return message

    async def send(self, message: Message) -> None:
        if self._closed:
            return  # we closed the socket already: the route's own close has no socket
        if self._authenticated or message["type"] in PASSED_BEFORE_AUTH:
            await self._send(message)
            return
        # The route sends before the client authenticated: a route that skipped the
        # handshake. Nothing of it reaches the client.
        await self._close("Auth required")

    async def _close(self, reason: str) -> Message:
        self._closed = True
        await self._send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})
        return {"type": "websocket.disconnect", "code": POLICY_VIOLATION}
