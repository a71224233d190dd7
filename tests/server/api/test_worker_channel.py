"""The worker channel ``/work_pools/{name}/workers/connect`` through a real websocket client
against the app served on loopback: hello and ready, heartbeats recorded, a new snapshot of
the pool after each change, and the close reasons the official worker acts on."""

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
REQUIRED = ["worker_heartbeat.v1", "work_pool_snapshot.v1"]


def _frame(kind: str, **payload: Any) -> str:
    return orjson.dumps(
        {"type": kind, "id": str(uuid.uuid4()), "sent_at": dt.datetime.now(dt.UTC).isoformat(),
         "payload": payload}  # fmt: skip
    ).decode()


def _hello(consumer_id: str, **overrides: Any) -> str:
    payload = {
        "consumer_id": consumer_id,
        "worker_name": "channel-worker",
        "worker_type": "process",
        "heartbeat_interval_seconds": 30,
        "supported_channel_versions": ["work_pool_worker_channel.v1"],
        "requested_capabilities": [*REQUIRED, "cleanup_delivery.v1"],
        "work_queue_names": [],
        "create_pool_if_not_found": False,
        "default_base_job_template": {},
        "worker_metadata": None,
        **overrides,
    }
    return _frame("worker.hello.v1", **payload)


@contextlib.asynccontextmanager
async def connect(base_url: str, pool: str) -> AsyncIterator[Any]:
    url = f"{base_url}/work_pools/{pool}/workers/connect"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("prefect")]) as ws:
        await ws.send('{"type": "auth", "token": null}')
        assert orjson.loads(await ws.recv()) == {"type": "auth_success"}
        yield ws


async def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT))
    return message


async def closed_with(ws: Any) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _pool(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.post("/work_pools/", json={"name": name, "type": "process"})
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


async def test_hello_is_answered_ready_with_the_pool_and_records_the_worker(
    client: httpx.AsyncClient, base_url: str
) -> None:
    pool = await _pool(client, "channelled")
    consumer = str(uuid.uuid4())
    async with connect(base_url, "channelled") as ws:
        await ws.send(_hello(consumer))
        ready = await receive(ws)
        assert ready["type"] == "worker.ready.v1"
        payload = ready["payload"]
        assert payload["consumer_id"] == consumer
        assert payload["selected_channel_version"] == "work_pool_worker_channel.v1"
        assert payload["accepted_capabilities"] == REQUIRED
        assert payload["rejected_capabilities"] == ["cleanup_delivery.v1"]
        assert payload["effective_heartbeat_interval_seconds"] == 30
        assert payload["resolved_work_queues"] == [
            {"id": pool["default_queue_id"], "name": "default"}
        ]
        snapshot = payload["initial_snapshot"]
        assert (snapshot["snapshot_sequence"], snapshot["reason"]) == (1, "initial")
        assert snapshot["work_pool"]["id"] == pool["id"]
        workers = (await client.post("/work_pools/channelled/workers/filter")).json()
        assert [w["name"] for w in workers] == ["channel-worker"]
        assert payload["worker_id"] == workers[0]["id"]


async def test_heartbeats_are_recorded(client: httpx.AsyncClient, base_url: str) -> None:
    await _pool(client, "beating")
    consumer = str(uuid.uuid4())
    async with connect(base_url, "beating") as ws:
        await ws.send(_hello(consumer, heartbeat_interval_seconds=30))
        await receive(ws)
        before = (await client.post("/work_pools/beating/workers/filter")).json()[0]
        beat = {"consumer_id": consumer, "worker_name": "channel-worker",
                "heartbeat_interval_seconds": 45}  # fmt: skip
        await ws.send(_frame("worker.heartbeat.v1", **beat))
        for _ in range(100):
            after = (await client.post("/work_pools/beating/workers/filter")).json()[0]
            if after["heartbeat_interval_seconds"] == 45:
                break
            await asyncio.sleep(0.05)
        assert after["heartbeat_interval_seconds"] == 45
        assert after["last_heartbeat_time"] >= before["last_heartbeat_time"]


async def test_each_change_of_the_pool_sends_a_newer_snapshot(
    client: httpx.AsyncClient, base_url: str
) -> None:
    await _pool(client, "watched")
    async with connect(base_url, "watched") as ws:
        await ws.send(_hello(str(uuid.uuid4())))
        await receive(ws)
        response = await client.patch("/work_pools/watched", json={"is_paused": True})
        assert response.status_code == 204
        sequence = 1
        while True:  # the update and the pause each send one; the last one is paused
            frame = await receive(ws)
            assert frame["type"] == "work_pool.snapshot.v1"
            assert frame["payload"]["snapshot_sequence"] > sequence
            sequence = frame["payload"]["snapshot_sequence"]
            if frame["payload"]["work_pool"]["is_paused"]:
                break
        assert frame["payload"]["work_pool"]["status"] == "PAUSED"


async def test_a_missing_pool_is_created_when_the_worker_asks(
    client: httpx.AsyncClient, base_url: str
) -> None:
    async with connect(base_url, "made-by-worker") as ws:
        await ws.send(_hello(str(uuid.uuid4()), create_pool_if_not_found=True,
                             worker_type="process"))  # fmt: skip
        ready = await receive(ws)
        assert ready["payload"]["initial_snapshot"]["work_pool"]["name"] == "made-by-worker"
    response = await client.get("/work_pools/made-by-worker")
    assert response.status_code == 200 and response.json()["type"] == "process"


async def test_refusals_carry_the_reason_the_worker_acts_on(
    client: httpx.AsyncClient, base_url: str
) -> None:
    # No pool and no permission to make one: transient, the worker retries later.
    async with connect(base_url, "absent") as ws:
        await ws.send(_hello(str(uuid.uuid4())))
        assert await closed_with(ws) == (1011, "transient_server_error")
    assert (await client.get("/work_pools/absent")).status_code == 404

    await _pool(client, "strict")
    async with connect(base_url, "strict") as ws:
        await ws.send(_hello(str(uuid.uuid4()), supported_channel_versions=["v0"]))
        assert await closed_with(ws) == (1008, "unsupported_version")
    async with connect(base_url, "strict") as ws:
        await ws.send(_hello(str(uuid.uuid4()), requested_capabilities=["worker_heartbeat.v1"]))
        assert await closed_with(ws) == (1002, "protocol_error")
    async with connect(base_url, "strict") as ws:
        await ws.send('{"type": "worker.hello.v1"}')
        assert await closed_with(ws) == (1002, "protocol_error")
    async with connect(base_url, "strict") as ws:
        await ws.send(_hello(str(uuid.uuid4())))
        await receive(ws)
        await ws.send(_frame("cleanup.ack.v1", message_id=str(uuid.uuid4())))
        assert await closed_with(ws) == (1002, "protocol_error")


async def test_deleting_the_pool_ends_the_channel(
    client: httpx.AsyncClient, base_url: str
) -> None:
    await _pool(client, "doomed")
    async with connect(base_url, "doomed") as ws:
        await ws.send(_hello(str(uuid.uuid4())))
        await receive(ws)
        assert (await client.delete("/work_pools/doomed")).status_code == 204
        assert await closed_with(ws) == (1011, "transient_server_error")


async def test_the_channel_serves_only_its_workspace_s_pool(
    app: FastAPI, client: httpx.AsyncClient, db: Database, base_url: str
) -> None:
    """A worker of workspace B naming A's pool neither sees nor changes it; B's own pool of
    the same name is the one it gets, and A's pool's changes never reach it."""
    ours = await _pool(client, "shared-name")
    async with db.write() as session:
        other = await tenancy.create_workspace(session, app.state.default_account_id, "B", "b")
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    async with connect(f"{base_url}{prefix}", "shared-name") as ws:
        await ws.send(_hello(str(uuid.uuid4())))
        assert await closed_with(ws) == (1011, "transient_server_error")
    assert (await client.post("/work_pools/shared-name/workers/filter")).json() == []

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://test/api{prefix}") as b:
        theirs = await _pool(b, "shared-name")
        async with connect(f"{base_url}{prefix}", "shared-name") as ws:
            await ws.send(_hello(str(uuid.uuid4())))
            ready = await receive(ws)
            assert ready["payload"]["initial_snapshot"]["work_pool"]["id"] == theirs["id"]
            assert ready["payload"]["initial_snapshot"]["work_pool"]["id"] != ours["id"]
            await client.patch("/work_pools/shared-name", json={"is_paused": True})
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 1.0)
        assert [w["name"] for w in (await b.post("/work_pools/shared-name/workers/filter")).json()]
    assert (await client.post("/work_pools/shared-name/workers/filter")).json() == []
