"""The per-request checks, as one pure ASGI middleware in front of the whole app.

In the order they run, for HTTP:

1. ``Host`` names a trusted host (:mod:`.hosts`), else 400 -- for every path, the UI too;
2. under ``/api``, the server API key (:mod:`.api_key`), else 401 with ``WWW-Authenticate``
   -- except the few :data:`OPEN_PATHS`;
3. a body larger than the limit: 413 at once when ``Content-Length`` says so, else as soon
   as the bytes read exceed it (never read whole first);
4. under ``/api``, a POST, PUT or PATCH with a body must say ``Content-Type:
   application/json`` (or ``application/*+json``), else 415: a web page can send any site a
   ``text/plain`` POST without asking (a CORS "simple request"), but not a JSON one.

For websockets: the same Host check and, when the upgrade has an ``Origin`` (browsers always
send one, other clients none), a trusted one; else the upgrade is refused (403). Under
``/api`` the key may come with the upgrade or in the first frame (:mod:`.websocket_auth`).

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs every request
through a task and memory streams, costs far more per request and breaks streaming.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowyard.server.auth.api_key import ApiKey
from flowyard.server.auth.hosts import TrustedHosts
from flowyard.server.auth.websocket_auth import FirstFrameAuth
from flowyard.settings import Settings

API_PREFIX = "/api/"
# Open without the key: load balancers and orchestrators probe health and readiness without
# credentials, and the OpenAPI document describes the API without holding any data.
OPEN_PATHS = frozenset({"/api/health", "/api/ready", "/api/openapi.json"})
OPEN_METHODS = frozenset({"GET", "HEAD"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Methods whose undeclared body is not counted: their routes never read one, so it costs
# nothing but the bytes the server discards (and they are the hot path: no extra wrapper).
UNCOUNTED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = (b"www-authenticate", b'Bearer realm="flowyard"')
SHOWN_HOST_LENGTH = 100


def is_json(content_type: bytes) -> bool:
    media_type = content_type.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


def route_path(scope: Scope) -> str:
    """The path the app routes on (without the ``root_path`` a proxy may add)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


class RequestGuard:
    """Refuses the requests this server must not serve (see the module docstring).

    Args:
        app: the application behind it.
        api_key: the server API key; None serves ``/api`` without one.
        hosts: the host names requests may name; None does not check them (an app with no
            socket, whose only caller is its own process).
        max_body_bytes: the largest request body accepted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: ApiKey | None,
        hosts: TrustedHosts | None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.hosts = None if hosts is None or hosts.any else hosts
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = authorization = content_type = content_length = chunked = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                chunked = value
        hosts = self.hosts
        if hosts is not None and host is not None and not hosts.allows_header(host):
            await refuse(send, 400, untrusted_host_message(host))
            return
        path = route_path(scope)
        in_api = path.startswith(API_PREFIX)  # /api itself is a 404 of no interest
        method = scope["method"]
        api_key = self.api_key
        if (
            api_key is not None
            and in_api
            and not (path in OPEN_PATHS and method in OPEN_METHODS)
            and (authorization is None or not api_key.accepts_header(authorization))
        ):
            detail = (
                "Missing API key: send it as 'Authorization: Bearer <key>'."
                if authorization is None
                else "Invalid API key."
            )
            await refuse(send, 401, detail, CHALLENGE)
            return
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                await refuse(send, 400, "Invalid Content-Length header.")
                return
            if declared > self.max_body_bytes:
                await refuse(send, 413, self.too_large_message())
                return
            has_body = declared > 0
        else:
            has_body = chunked is not None
        if (
            in_api
            and has_body
            and method in BODY_METHODS
            and (content_type is None or not is_json(content_type))
        ):
            await refuse(
                send,
                415,
                "Request bodies must be JSON, sent with 'Content-Type: application/json'.",
            )
            return
        if content_length is None and method not in UNCOUNTED_METHODS:
            # No declared length (chunked; or HTTP/2, which needs no header for a body).
            receive = self._counted(receive)
        await self.app(scope, receive, send)

    def too_large_message(self) -> str:
        return (
            f"The request body is larger than {self.max_body_bytes} bytes "
            "(FLOWYARD_SERVER_MAX_BODY_BYTES)."
        )

    def _counted(self, receive: Receive) -> Receive:
        """``receive`` that raises 413 once the body read so far exceeds the limit (a
        chunked body, whose length nobody declared)."""
        limit = self.max_body_bytes
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the app's read of the body: the app's handler of
                    # HTTPException answers it, as it would any refusal.
                    raise HTTPException(413, self.too_large_message())
            return message

        return counted

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = authorization = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"authorization":
                authorization = value
        hosts = self.hosts
        if hosts is not None:
            if host is not None and not hosts.allows_header(host):
                await refuse_upgrade(scope, receive, send, untrusted_host_message(host))
                return
            if origin is not None and not hosts.allows_origin(origin):
                shown = origin.decode("latin-1")[:SHOWN_HOST_LENGTH]
                await refuse_upgrade(
                    scope, receive, send, f"Websocket connections from {shown!r} are refused."
                )
                return
        api_key = self.api_key
        if (
            api_key is not None
            and route_path(scope).startswith(API_PREFIX)
            and (authorization is None or not api_key.accepts_header(authorization))
        ):
            # No key on the upgrade (the official client sends none for PREFECT_API_KEY):
            # the first frame must carry it.
            auth = FirstFrameAuth(api_key, receive, send)
            await self.app(auth.mark(scope), auth.receive, auth.send)
            return
        await self.app(scope, receive, send)


def untrusted_host_message(host: bytes) -> str:
    shown = host.decode("latin-1")[:SHOWN_HOST_LENGTH]
    return (
        f"Host {shown!r} is not one this server answers to: add it to "
        "FLOWYARD_SERVER_ALLOWED_HOSTS on the server."
    )


async def refuse(send: Send, status: int, detail: str, *headers: tuple[bytes, bytes]) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def refuse_upgrade(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    """Refuse a websocket before accepting it: a 403 with the reason where the server can
    send one (the ASGI websocket denial response), else a bare close (which servers also
    answer with 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    extensions: dict[str, Any] = scope.get("extensions") or {}
    if "websocket.http.response" not in extensions:
        await send({"type": "websocket.close", "code": 1008, "reason": detail})
        return
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def guard_options(settings: Settings, *, in_process: bool) -> dict[str, Any]:
    """The :class:`RequestGuard` keyword arguments for ``settings``.

    ``in_process``: the app has no socket (embedded mode, the test harness) -- its only
    caller is the process that built it, which already holds the database, so the key and
    the Host names have nothing to guard. The body checks still hold.
    """
    key = settings.server_api_key
    return {
        "api_key": ApiKey(key.get_secret_value()) if key and not in_process else None,
        "hosts": None
        if in_process
        else TrustedHosts(settings.server_allowed_hosts, settings.server_host),
        "max_body_bytes": settings.server_max_body_bytes,
    }
