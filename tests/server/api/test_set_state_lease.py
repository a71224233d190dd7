"""A flow run's lease taken with its Running transition (issue 9, point 3).

The SDK declares the lease in the ``set_state`` request it already sends for Running, so a
run holds a lease from its first moment in Running with no extra round trip; the lease is
dropped with the run's final state. A client that declares none (the official client, a
``curl``) takes none: its heartbeat events are its lease (see ``services.run_leases``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from flowyard.server.database.engine import Database
from flowyard.server.database.orm_run_leases import FlowRunLease
from flowyard.server.services import run_leases

HOLDER = {"type": "process", "hostname": "test-host", "pid": 4242}


async def pending_run(client: httpx.AsyncClient) -> str:
    flow_id = (await client.post("/flows/", json={"name": "leased"})).json()["id"]
    body = {"flow_id": flow_id, "state": {"type": "PENDING"}}
    return str((await client.post("/flow_runs/", json=body)).json()["id"])


async def set_state(client: httpx.AsyncClient, run_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/flow_runs/{run_id}/set_state", json=body)


async def lease_of(db: Database, run_id: str) -> FlowRunLease | None:
    async with db.read() as session:
        return await session.scalar(
            sa.select(FlowRunLease).where(FlowRunLease.flow_run_id == uuid.UUID(run_id))
        )


async def test_running_with_a_declared_lease_holds_it_until_the_run_ends(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await pending_run(client)
    before = dt.datetime.now(dt.UTC)
    answer = await set_state(
        client,
        run_id,
        state={"type": "RUNNING"},
        lease={"lease_seconds": 30, "holder": HOLDER},
    )
    assert answer.status_code == 201 and answer.json()["status"] == "ACCEPT", answer.text
    lease = await lease_of(db, run_id)
    assert lease is not None and lease.holder == HOLDER and lease.lease_seconds == 30
    left = (lease.expiration - before).total_seconds()
    assert 29 < left < 60

    # Alive: nothing to settle. The final state drops the lease (no release request).
    assert await run_leases.settle_expired_leases(db) == 0
    done = await set_state(client, run_id, state={"type": "COMPLETED"})
    assert done.json()["status"] == "ACCEPT"
    assert await lease_of(db, run_id) is None


async def test_a_run_whose_declared_lease_expires_is_crashed(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await pending_run(client)
    await set_state(client, run_id, state={"type": "RUNNING"}, lease={"lease_seconds": 30})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    async with db.write() as session:
        await session.execute(sa.update(FlowRunLease).values(expiration=past))
    assert await run_leases.settle_expired_leases(db) == 1
    state = (await client.get(f"/flow_runs/{run_id}")).json()["state"]
    assert state["type"] == "CRASHED", state
    assert "stopped renewing its lease" in state["message"]


async def test_a_refused_running_transition_takes_no_lease(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await pending_run(client)
    await set_state(client, run_id, state={"type": "RUNNING"})  # declares no lease
    again = await set_state(client, run_id, state={"type": "RUNNING"}, lease={"lease_seconds": 30})
    assert again.json()["status"] != "ACCEPT"
    assert await lease_of(db, run_id) is None


async def test_a_lease_is_taken_only_on_running(client: httpx.AsyncClient, db: Database) -> None:
    run_id = await pending_run(client)
    paused = await set_state(
        client, run_id, state={"type": "SCHEDULED"}, lease={"lease_seconds": 30}
    )
    assert paused.json()["status"] == "ACCEPT"
    assert await lease_of(db, run_id) is None


async def test_running_without_a_declared_lease_takes_none(
    client: httpx.AsyncClient, db: Database
) -> None:
    # The official client declares no lease: a run of it that sends no heartbeat events
    # cannot be told from a dead one, so it is never crashed for want of one.
    run_id = await pending_run(client)
    answer = await set_state(client, run_id, state={"type": "RUNNING"})
    assert answer.json()["status"] == "ACCEPT"
    assert await lease_of(db, run_id) is None


@pytest.mark.parametrize(
    ("lease", "field"),
    [
        ({"lease_seconds": 0}, "lease.lease_seconds"),
        ({"lease_seconds": -5}, "lease.lease_seconds"),
        ({"lease_seconds": 10**6}, "lease.lease_seconds"),
        ({"lease_seconds": "soon"}, "lease.lease_seconds"),
        ({}, "lease.lease_seconds"),
        ({"lease_seconds": 30, "holder": "me"}, "lease.holder"),
        ("thirty", "lease"),
    ],
)
async def test_a_bad_declared_lease_is_refused_with_422(
    client: httpx.AsyncClient, db: Database, lease: Any, field: str
) -> None:
    run_id = await pending_run(client)
    answer = await set_state(client, run_id, state={"type": "RUNNING"}, lease=lease)
    assert answer.status_code == 422, answer.text
    assert field in str(answer.json()["detail"])
    state = (await client.get(f"/flow_runs/{run_id}")).json()["state"]
    assert state["type"] == "PENDING"  # nothing changed


async def test_task_runs_declare_no_lease(client: httpx.AsyncClient) -> None:
    run_id = await pending_run(client)
    body = {"flow_run_id": run_id, "task_key": "t", "dynamic_key": "0", "name": "t-0"}
    task_id = (await client.post("/task_runs/", json=body)).json()["id"]
    answer = await client.post(
        f"/task_runs/{task_id}/set_state",
        json={"state": {"type": "RUNNING"}, "lease": {"lease_seconds": 30}},
    )
    assert answer.status_code == 422 and "lease" in str(answer.json()["detail"])
