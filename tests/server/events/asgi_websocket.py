"""A minimal in-process websocket client for ASGI apps, running on the test's own loop.

(Starlette's TestClient runs the app on another thread and loop, which cannot share the
``app`` fixture's database; this drives the ASGI websocket protocol directly instead.)
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any


class WebSocketClosed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"websocket closed with code {code}")
        self.code = code


class ASGIWebSocket:
    def __init__(
        self,
        app: Any,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.path = path
        self.subprotocols = subprotocols or []
        # Host "test" unless given: the name the suite's settings trust (tests/conftest.py).
        given = {"host": "test", **{k.lower(): v for k, v in (headers or {}).items()}}
        self.headers = [(k.encode(), v.encode()) for k, v in given.items()]
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.accepted_subprotocol: str | None = None
        self.close_reason: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ASGIWebSocket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": self.path,
            "raw_path": self.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": self.headers,
            "subprotocols": self.subprotocols,
            "client": ("127.0.0.1", 50000),
            "server": ("test", 80),
            "state": {},
        }
        self._task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        message = await self._next()
        if message["type"] == "websocket.close":
            self.close_reason = message.get("reason")
            raise WebSocketClosed(message.get("code", 1000))
        assert message["type"] == "websocket.accept", message
        self.accepted_subprotocol = message.get("subprotocol")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout=30)

    async def _next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), timeout=30)

    async def send_text(self, text: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def receive_json(self) -> Any:
        message = await self._next()
        if message["type"] == "websocket.close":
            self.close_reason = message.get("reason")
            raise WebSocketClosed(message.get("code", 1000))
        return json.loads(message.get("text") or message["bytes"])
