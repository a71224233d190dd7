"""Websockets behind the request guard: the server API key on the upgrade or in the first
frame (as the official client sends it), and the Host and Origin of the upgrade."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_websocket import ASGIWebSocket, WebSocketClosed

from flowyard.server.app import create_app
from flowyard.server.database.engine import Database
from flowyard.settings import Settings

KEY = "websocket-test-key"
POLICY_VIOLATION = 1008


@asynccontextmanager
async def guarded(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    changed = Settings(home=settings.home, database_url=settings.database_url, **overrides)
    db = Database(changed.resolved_database_url)
    app = create_app(changed, database=db, services=False)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await db.dispose()


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


LOCAL = {"host": "127.0.0.1:4200"}


@pytest.mark.parametrize("token", [KEY, f"user:{KEY}"])
async def test_the_key_in_the_first_frame_opens_the_socket(settings: Settings, token: str) -> None:
    async with guarded(settings, server_api_key=KEY) as app:
        sock = ASGIWebSocket(app, "/api/events/out", subprotocols=["prefect"], headers=LOCAL)
        async with sock as ws:
            await ws.send_json({"type": "auth", "token": token})
            assert await ws.receive_json() == {"type": "auth_success"}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "Auth required but no token provided"),
        ("wrong", "Invalid token"),
        (f"{KEY}:user", "Invalid token"),
    ],
)
async def test_a_missing_or_wrong_token_closes_the_socket_as_prefect_does(
    settings: Settings, token: str | None, reason: str
) -> None:
    async with guarded(settings, server_api_key=KEY) as app:
        sock = ASGIWebSocket(app, "/api/events/out", subprotocols=["prefect"], headers=LOCAL)
        async with sock as ws:
            await ws.send_json({"type": "auth", "token": token})
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive_json()
            assert closed.value.code == POLICY_VIOLATION
            assert sock.close_reason == reason


@pytest.mark.parametrize("authorization", [f"Bearer {KEY}", basic(f"user:{KEY}")])
async def test_the_key_on_the_upgrade_opens_the_socket_whatever_the_token(
    settings: Settings, authorization: str
) -> None:
    # The official client with PREFECT_API_AUTH_STRING sends Basic on the upgrade.
    headers = {**LOCAL, "authorization": authorization}
    async with guarded(settings, server_api_key=KEY) as app:
        sock = ASGIWebSocket(app, "/api/logs/out", subprotocols=["prefect"], headers=headers)
        async with sock as ws:
            await ws.send_json({"type": "auth", "token": None})
            assert await ws.receive_json() == {"type": "auth_success"}


async def test_a_client_without_the_handshake_must_still_send_the_key_first(
    settings: Settings,
) -> None:
    async with guarded(settings, server_api_key=KEY) as app:
        # No "prefect" subprotocol: served without the handshake when there is no key.
        sock = ASGIWebSocket(app, "/api/events/out", headers=LOCAL)
        async with sock as ws:
            await ws.send_json({"type": "filter", "filter": {}, "backfill": True})
            with pytest.raises(WebSocketClosed) as closed:
                await ws.receive_json()
            assert closed.value.code == POLICY_VIOLATION
            assert sock.close_reason == "Expected 'auth' message"


async def test_events_sent_after_a_refused_token_are_not_stored(settings: Settings) -> None:
    event = {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": "test.unauthenticated",
        "resource": {"prefect.resource.id": "test.resource"},
    }
    async with guarded(settings, server_api_key=KEY) as app:
        sock = ASGIWebSocket(app, "/api/events/in", subprotocols=["prefect"], headers=LOCAL)
        async with sock as ws:
            await ws.send_json({"type": "auth", "token": "wrong"})
            await ws.send_json(event)
            with pytest.raises(WebSocketClosed):
                await ws.receive_json()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1/api", headers=headers
        ) as client:
            body = {"filter": {"event": {"name": ["test.unauthenticated"]}}}
            page = (await client.post("/events/filter", json=body)).json()
            assert page["events"] == []


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (None, True),  # not a browser
        ("http://127.0.0.1:4200", True),
        ("http://localhost:3000", True),
        ("https://attacker.example", False),
        ("null", False),  # a sandboxed frame or a local file
    ],
)
async def test_the_origin_of_an_upgrade_must_be_a_trusted_host(
    settings: Settings, origin: str | None, accepted: bool
) -> None:
    headers = dict(LOCAL) if origin is None else {**LOCAL, "origin": origin}
    async with guarded(settings) as app:
        sock = ASGIWebSocket(app, "/api/events/out", subprotocols=["prefect"], headers=headers)
        if accepted:
            async with sock as ws:
                await ws.send_json({"type": "auth", "token": None})
                assert await ws.receive_json() == {"type": "auth_success"}
            return
        with pytest.raises(WebSocketClosed):
            async with sock:
                pass
        assert "refused" in (sock.close_reason or "")


async def test_an_upgrade_naming_an_untrusted_host_is_refused(settings: Settings) -> None:
    async with guarded(settings) as app:
        sock = ASGIWebSocket(app, "/api/events/out", headers={"host": "attacker.example"})
        with pytest.raises(WebSocketClosed):
            async with sock:
                pass
        assert "FLOWYARD_SERVER_ALLOWED_HOSTS" in (sock.close_reason or "")
