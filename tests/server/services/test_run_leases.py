"""Leases on running flow runs: taken and renewed through the API, and the run_leases
service that settles the runs whose process stopped renewing them."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.orm_run_leases import FlowRunLease
from flowyard.server.services import run_leases
from flowyard.server.services.registry import services

LIMITS = "/v2/concurrency_limits"


async def running_run(client: httpx.AsyncClient, **fields: Any) -> str:
    flow_id = (await client.post("/flows/", json={"name": "leased"})).json()["id"]
    body = {"flow_id": flow_id, **fields}
    run_id = str((await client.post("/flow_runs/", json=body)).json()["id"])
    answer = await client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert answer.json()["status"] == "ACCEPT", answer.text
    return run_id


async def expire(db: Database, run_id: str) -> dt.datetime:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with db.write() as session:
        await session.execute(
            sa.update(FlowRunLease)
            .where(FlowRunLease.flow_run_id == uuid.UUID(run_id))
            .values(expiration=past)
        )
    return past


async def state_of(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get(f"/flow_runs/{run_id}")).json()["state"]
    return state


async def test_a_lease_is_taken_renewed_and_dropped_when_the_run_ends(
    client: httpx.AsyncClient,
) -> None:
    run_id = await running_run(client)
    first = await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
    assert first.status_code == 200, first.text
    assert first.json()["state_type"] == "RUNNING"
    assert first.json()["lease_seconds"] == 30
    renewed = await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 60})
    assert renewed.json()["expiration"] > first.json()["expiration"]

    await client.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "COMPLETED"}})
    done = await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
    assert done.json()["state_type"] == "COMPLETED" and done.json()["expiration"] is None
    assert (await client.delete(f"/flow_runs/{run_id}/lease")).status_code == 204


async def test_bad_lease_requests_are_refused(client: httpx.AsyncClient) -> None:
    run_id = await running_run(client)
    bad = await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 0})
    assert bad.status_code == 422 and "lease_seconds" in bad.json()["detail"]
    missing = await client.post(f"/flow_runs/{uuid.uuid4()}/lease", json={"lease_seconds": 5})
    assert missing.status_code == 404
    assert (await client.delete(f"/flow_runs/{uuid.uuid4()}/lease")).status_code == 404


async def test_an_expired_lease_crashes_the_run_and_frees_its_slots(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await running_run(client)
    task = await client.post(
        "/task_runs/",
        json={"flow_run_id": run_id, "task_key": "t", "dynamic_key": "0", "name": "t-0"},
    )
    task_id = task.json()["id"]
    await client.post(f"/task_runs/{task_id}/set_state", json={"state": {"type": "RUNNING"}})
    await client.post(f"{LIMITS}/", json={"name": "db", "limit": 2})
    for kind, holder_id in (("flow_run", run_id), ("task_run", task_id)):
        taken = await client.post(
            f"{LIMITS}/increment-with-lease",
            json={"names": ["db"], "slots": 1, "holder": {"type": kind, "id": holder_id}},
        )
        assert taken.status_code == 200, taken.text
    assert (await client.get(f"{LIMITS}/db")).json()["active_slots"] == 2

    await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
    assert await run_leases.settle_expired_leases(db) == 0  # live: left alone
    expired_at = await expire(db, run_id)
    assert await run_leases.settle_expired_leases(db) == 1

    state = await state_of(client, run_id)
    assert state["type"] == "CRASHED"
    assert "stopped renewing its lease, which expired at" in state["message"]
    assert expired_at.isoformat(timespec="seconds")[:19] in state["message"]
    task_state = (await client.get(f"/task_runs/{task_id}")).json()["state"]
    assert task_state["type"] == "CRASHED"
    assert (await client.get(f"{LIMITS}/db")).json()["active_slots"] == 0
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(FlowRunLease)) == 0
    assert await run_leases.settle_expired_leases(db) == 0


async def test_a_crashed_deployment_run_with_retries_left_awaits_a_retry(
    client: httpx.AsyncClient, db: Database
) -> None:
    retried = await running_run(client, empirical_policy={"retries": 1, "retry_delay": 5})
    no_retries = await running_run(client)
    no_deployment = await running_run(client, empirical_policy={"retries": 1})
    async with db.write() as session:
        await session.execute(
            sa.update(orm.FlowRun)
            .where(orm.FlowRun.id.in_([uuid.UUID(retried), uuid.UUID(no_retries)]))
            .values(deployment_id=uuid.uuid4())
        )
    for run_id in (retried, no_retries, no_deployment):
        await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
        await expire(db, run_id)
    assert await run_leases.settle_expired_leases(db) == 3

    state = await state_of(client, retried)
    assert (state["type"], state["name"]) == ("SCHEDULED", "AwaitingRetry")
    history = (await client.get("/flow_run_states/", params={"flow_run_id": retried})).json()
    assert [s["type"] for s in history][-2:] == ["CRASHED", "SCHEDULED"]
    assert (await state_of(client, no_retries))["type"] == "CRASHED"
    # Nothing could start a run without a deployment again: it stays Crashed.
    assert (await state_of(client, no_deployment))["type"] == "CRASHED"

    # The retry runs; when its process dies too, the retries are spent.
    await client.post(
        f"/flow_runs/{retried}/set_state", json={"state": {"type": "RUNNING"}, "force": True}
    )
    await client.post(f"/flow_runs/{retried}/lease", json={"lease_seconds": 30})
    await expire(db, retried)
    assert await run_leases.settle_expired_leases(db) == 1
    assert (await state_of(client, retried))["type"] == "CRASHED"


async def test_a_cancelling_run_whose_process_died_ends_cancelled(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await running_run(client)
    await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
    cancel = await client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}}
    )
    assert cancel.json()["status"] == "ACCEPT"
    await expire(db, run_id)
    assert await run_leases.settle_expired_leases(db) == 1
    assert (await state_of(client, run_id))["type"] == "CANCELLED"


async def test_heartbeat_events_of_the_official_client_renew_leases(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    assert run_leases.start in services()
    run_id = await running_run(client)
    stop = await run_leases.start(app, interval=3600)
    try:
        event = {
            "id": str(uuid.uuid4()),
            "occurred": dt.datetime.now(dt.UTC).isoformat(),
            "event": "prefect.flow-run.heartbeat",
            "resource": {"prefect.resource.id": f"prefect.flow-run.{run_id}"},
        }
        assert (await client.post("/events", json=[event])).status_code in (200, 202, 204)
        await app.state.event_pipeline.drain()
        lease = None
        for _ in range(200):
            async with db.read() as session:
                lease = await session.scalar(sa.select(FlowRunLease))
            if lease is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        await stop()
    assert lease is not None and str(lease.flow_run_id) == run_id
    left = (lease.expiration - dt.datetime.now(dt.UTC)).total_seconds()
    assert 500 < left <= 600


async def test_a_paused_run_past_its_timeout_with_no_process_fails(
    client: httpx.AsyncClient, db: Database
) -> None:
    def pause(seconds: float) -> dict[str, Any]:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        details = {"pause_timeout": until.isoformat(), "pause_key": str(uuid.uuid4())}
        return {"state": {"type": "PAUSED", "state_details": details}}

    expired = await running_run(client)
    held = await running_run(client)
    waiting = await running_run(client)
    for run_id, seconds in ((expired, 0.05), (held, 0.05), (waiting, 600)):
        answer = await client.post(f"/flow_runs/{run_id}/set_state", json=pause(seconds))
        assert answer.json()["status"] == "ACCEPT", answer.text
    await client.post(f"/flow_runs/{held}/lease", json={"lease_seconds": 60})
    await asyncio.sleep(0.1)

    assert await run_leases.fail_expired_pauses(db) == 1
    state = await state_of(client, expired)
    assert state["type"] == "FAILED" and "never resumed" in state["message"]
    # Its process still holds the lease: it fails the run itself at the timeout.
    assert (await state_of(client, held))["type"] == "PAUSED"
    assert (await state_of(client, waiting))["type"] == "PAUSED"


async def test_every_expired_pause_is_failed_beyond_one_batch(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More paused runs than one batch: the read used to stop at the first BATCH (in no
    # order), so the expired runs beyond it were never failed.
    monkeypatch.setattr(run_leases, "BATCH", 3)
    expired, waiting = [], []
    for index in range(11):
        run_id = await running_run(client)
        seconds = 600.0 if index % 3 == 0 else -5.0  # every third one still has time
        until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
        details = {"pause_timeout": until.isoformat(), "pause_key": str(uuid.uuid4())}
        answer = await client.post(
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "PAUSED", "state_details": details}},
        )
        assert answer.json()["status"] == "ACCEPT", answer.text
        (waiting if seconds > 0 else expired).append(run_id)

    assert await run_leases.fail_expired_pauses(db) == len(expired) == 7
    for run_id in expired:
        assert (await state_of(client, run_id))["type"] == "FAILED"
    for run_id in waiting:
        assert (await state_of(client, run_id))["type"] == "PAUSED"
    assert await run_leases.fail_expired_pauses(db) == 0  # nothing left to fail
