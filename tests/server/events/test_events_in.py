"""The ``/events/in`` websocket, driven the way the official client drives it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from asgi_websocket import ASGIWebSocket, WebSocketClosed
from fastapi import FastAPI
from task_run_events import make_flow_run, retried_task_run

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.events.pipeline import EventPipeline


async def test_events_streamed_in_become_task_runs(app: FastAPI, db: Database) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    run_ids = [uuid.uuid4() for _ in range(20)]
    async with ASGIWebSocket(app, "/api/events/in", subprotocols=["prefect"]) as ws:
        assert ws.accepted_subprotocol == "prefect"
        await ws.send_json({"type": "auth", "token": None})
        assert await ws.receive_json() == {"type": "auth_success"}
        await ws.send_text("this is not an event")  # skipped; the connection stays up
        for run_id in run_ids:
            for event in retried_task_run(run_id, flow_run_id):
                await ws.send_json(event)
    await app.state.event_pipeline.drain()
    async with db.read() as session:
        runs = (await session.execute(sa.select(orm.TaskRun.id, orm.TaskRun.state_name))).all()
        states = await session.scalar(sa.select(sa.func.count()).select_from(orm.TaskRunState))
    assert sorted(runs) == sorted((run_id, "Completed") for run_id in run_ids)
    assert states == 5 * len(run_ids)


async def test_the_workspace_url_streams_into_that_workspace(app: FastAPI, db: Database) -> None:
    account, workspace = app.state.default_account_id, app.state.default_workspace_id
    flow_run_id = await make_flow_run(db, workspace)
    path = f"/api/accounts/{account}/workspaces/{workspace}/events/in"
    async with ASGIWebSocket(app, path, subprotocols=["prefect"]) as ws:
        await ws.send_json({"type": "auth", "token": "anything"})
        assert await ws.receive_json() == {"type": "auth_success"}
        for event in retried_task_run(uuid.uuid4(), flow_run_id):
            await ws.send_json(event)
    await app.state.event_pipeline.drain()
    async with db.read() as session:
        assert await session.scalar(sa.select(orm.TaskRun.workspace_id)) == workspace


async def test_the_first_message_must_be_auth(app: FastAPI) -> None:
    async with ASGIWebSocket(app, "/api/events/in") as ws:
        assert ws.accepted_subprotocol is None
        await ws.send_json({"type": "hello"})
        with pytest.raises(WebSocketClosed) as closed:
            await ws.receive_json()
    assert closed.value.code == 1008


async def test_a_full_pipeline_stops_the_socket_being_read(app: FastAPI, db: Database) -> None:
    running: EventPipeline = app.state.event_pipeline
    blocked = EventPipeline(db, queue_size=2)  # not started: nothing drains it yet
    app.state.event_pipeline = blocked
    try:
        async with ASGIWebSocket(app, "/api/events/in", subprotocols=["prefect"]) as ws:
            await ws.send_json({"type": "auth", "token": None})
            await ws.receive_json()
            events = [
                {"occurred": "2026-11-28T11:22:07Z", "event": "test.tick", "id": str(uuid.uuid4()),
                 "resource": {"prefect.resource.id": "test.thing.1"}}
                for _ in range(10)
            ]  # fmt: skip
            for event in events:
                await ws.send_json(event)
            await asyncio.sleep(0.1)
            # Two queued, one being published, the rest still unread on the socket.
            assert ws.to_app.qsize() == 7
            await blocked.start()
            while ws.to_app.qsize():
                await asyncio.sleep(0.01)
        await blocked.stop()
    finally:
        app.state.event_pipeline = running
    async with db.read() as session:
        stored = set(await session.scalars(sa.select(orm.Event.id)))
    assert stored == {uuid.UUID(e["id"]) for e in events}
