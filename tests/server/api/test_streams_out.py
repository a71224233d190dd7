"""The live streams ``/events/out`` and ``/logs/out``, through a real websocket client
against the app served by uvicorn on loopback: the handshake, the backfill of recent
matching items, then live ones (ingested or emitted by writers through the outbox), each
once, only the workspace's own, only those the filter selects."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import websockets
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy

RECEIVE_TIMEOUT = 10.0


def _now(offset_seconds: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)).isoformat()


def _event(name: str, resource_id: str = "test.thing.1", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": _now(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id},
        **extra,
    }


@contextlib.asynccontextmanager
async def subscribe(
    url: str, flt: dict[str, Any], *, backfill: bool = True, auth: bool = True
) -> AsyncIterator[Any]:
    protocols = [websockets.Subprotocol("prefect")] if auth else None
    async with websockets.connect(url, subprotocols=protocols) as ws:
        if auth:
            await ws.send(orjson.dumps({"type": "auth", "token": None}).decode())
            assert orjson.loads(await ws.recv()) == {"type": "auth_success"}
        await ws.send(orjson.dumps({"type": "filter", "filter": flt, "backfill": backfill}))
        yield ws


async def receive(ws: Any, kind: str) -> dict[str, Any]:
    message = orjson.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
    assert message["type"] == kind, message
    item: dict[str, Any] = message[kind]
    return item


async def nothing_more(ws: Any) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.5)


def since_a_minute_ago(**flt: Any) -> dict[str, Any]:
    return {"occurred": {"since": _now(-60), "until": _now(3600)}, **flt}


async def test_events_out_backfills_then_streams_matching_events(
    client: httpx.AsyncClient, base_url: str
) -> None:
    earlier = _event("test.stream.before")
    assert (await client.post("/events", json=[earlier])).status_code == 204
    flt = since_a_minute_ago(event={"prefix": ["test.stream."]})
    async with subscribe(f"{base_url}/events/out", flt) as ws:
        assert (await receive(ws, "event"))["id"] == earlier["id"]
        live = _event(
            "test.stream.live",
            related=[{"prefect.resource.id": "x.y", "prefect.resource.role": "r"}],
        )
        ignored = _event("other.event")
        assert (await client.post("/events", json=[ignored, live])).status_code == 204
        got = await receive(ws, "event")
        assert got["id"] == live["id"] and got["event"] == "test.stream.live"
        assert got["related"] == live["related"]
        await nothing_more(ws)


async def test_events_out_without_backfill_sends_only_new_events(
    client: httpx.AsyncClient, base_url: str
) -> None:
    await client.post("/events", json=[_event("test.quiet.before")])
    flt = since_a_minute_ago(event={"prefix": ["test.quiet."]})
    async with subscribe(f"{base_url}/events/out", flt, backfill=False) as ws:
        await nothing_more(ws)
        live = _event("test.quiet.after")
        await client.post("/events", json=[live])
        assert (await receive(ws, "event"))["id"] == live["id"]


async def test_events_emitted_by_writers_reach_the_stream(
    client: httpx.AsyncClient, base_url: str
) -> None:
    # A flow-run state event is written by orchestration through the outbox, not posted.
    flt = since_a_minute_ago(event={"prefix": ["prefect.flow-run."]})
    async with subscribe(f"{base_url}/events/out", flt) as ws:
        flow_id = (await client.post("/flows/", json={"name": "streamed"})).json()["id"]
        run = (await client.post("/flow_runs/", json={"flow_id": flow_id})).json()
        got = await receive(ws, "event")
        assert got["event"] == "prefect.flow-run.Pending"
        assert got["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run['id']}"


async def test_the_stream_is_the_workspace_s_own(
    app: FastAPI, client: httpx.AsyncClient, db: Database, base_url: str
) -> None:
    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/api/accounts/{other.account_id}/workspaces/{other.id}"
    transport = httpx.ASGITransport(app=app)
    flt = since_a_minute_ago(event={"prefix": ["test.scoped."]})
    async with (
        httpx.AsyncClient(transport=transport, base_url=f"http://test{prefix}") as theirs,
        subscribe(f"{base_url}/events/out", flt) as ours,
    ):
        await theirs.post("/events", json=[_event("test.scoped.theirs")])
        mine = _event("test.scoped.mine")
        await client.post("/events", json=[mine])
        assert (await receive(ours, "event"))["id"] == mine["id"]
        await nothing_more(ours)


async def test_a_bad_first_message_closes_the_socket(base_url: str) -> None:
    async with websockets.connect(
        f"{base_url}/events/out", subprotocols=[websockets.Subprotocol("prefect")]
    ) as ws:
        await ws.send('{"type": "filter", "filter": {}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_logs_out_backfills_then_streams_matching_logs(
    client: httpx.AsyncClient, base_url: str
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "logged"})).json()["id"]
    run_id = (await client.post("/flow_runs/", json={"flow_id": flow_id})).json()["id"]

    def log(message: str, level: int = 20, flow_run_id: str | None = run_id) -> dict[str, Any]:
        return {"name": "test", "level": level, "message": message, "timestamp": _now(),
                "flow_run_id": flow_run_id}  # fmt: skip

    await client.post("/logs/", json=[log("before")])
    flt = {"flow_run_id": {"any_": [run_id]}, "level": {"ge_": 20},
           "timestamp": {"after_": _now(-60)}}  # fmt: skip
    async with subscribe(f"{base_url}/logs/out", flt, auth=False) as ws:
        assert (await receive(ws, "log"))["message"] == "before"
        batch = [log("debug", level=10), log("elsewhere", flow_run_id=None), log("after")]
        assert (await client.post("/logs/", json=batch)).status_code == 201
        got = await receive(ws, "log")
        assert got["message"] == "after" and got["flow_run_id"] == run_id
        stored = await client.post("/logs/filter", json={"logs": {"text": {"query": "after"}}})
        assert got["id"] == stored.json()[0]["id"]
        await nothing_more(ws)
