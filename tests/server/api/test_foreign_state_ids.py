"""A task-run state id is chosen by the client (a report's ``state_id``, an event's id), and
state ids are unique across the whole server: an id another workspace already holds must
never make that workspace's state the current state of one of ours, nor show up in our
reads. Each such state is stored under a fresh id instead (the run keeps its record).

Workspace A is the default one (``/api``); B is a second workspace of the same account.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy

SECRET = "alpha's private failure message"


@pytest_asyncio.fixture
async def other(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of workspace B."""
    async with app.state.db.write() as session:
        second = await tenancy.create_workspace(
            session, app.state.default_account_id, "Second", "second"
        )
    prefix = f"/api/accounts/{second.account_id}/workspaces/{second.id}"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://test{prefix}"
    ) as client:
        yield client


async def _flow_run(client: httpx.AsyncClient) -> str:
    flow = await client.post("/flows/", json={"name": f"f-{uuid.uuid4().hex[:6]}"})
    run = await client.post("/flow_runs/", json={"flow_id": flow.json()["id"]})
    assert run.status_code == 201, run.text
    run_id: str = run.json()["id"]
    return run_id


def _report(flow_run_id: str, state_id: str, state_type: str, message: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "flow_run_id": flow_run_id,
        "name": "t-0",
        "task_key": "t",
        "dynamic_key": "0",
        "state_id": state_id,
        "state_type": state_type,
        "state_timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "state_message": message,
    }


def _event(flow_run_id: str, state_id: str, state_type: str, message: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    name = state_type.title()
    return {
        "id": state_id,
        "occurred": now,
        "event": f"prefect.task-run.{name}",
        "resource": {"prefect.resource.id": f"prefect.task-run.{uuid.uuid4()}"},
        "related": [
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            },
        ],  # fmt: skip
        "payload": {
            "task_run": {"name": "t-0", "task_key": "t", "dynamic_key": "0"},
            "validated_state": {"type": state_type, "name": name, "message": message},
        },
    }


async def _send(client: httpx.AsyncClient, door: str, flow_run_id: str, state_id: str,
                state_type: str, message: str) -> str:  # fmt: skip
    """Record one task-run state through ``door``; returns the task run's id."""
    if door == "reports":
        body = _report(flow_run_id, state_id, state_type, message)
        response = await client.post("/task_runs/reports", json=[body])
        run_id = body["id"]
    else:
        body = _event(flow_run_id, state_id, state_type, message)
        response = await client.post("/events", json=[body])
        run_id = body["resource"]["prefect.resource.id"].removeprefix("prefect.task-run.")
    assert response.status_code == 204, response.text
    return run_id


async def _states_of(db: Database, run_id: str) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(orm.TaskRunState.id, orm.TaskRunState.workspace_id, orm.TaskRunState.type)
            .where(orm.TaskRunState.task_run_id == uuid.UUID(run_id))
        )  # fmt: skip
        return [tuple(row) for row in rows]


@pytest.mark.parametrize("door", ["reports", "events"])
async def test_a_state_id_of_another_workspace_never_attaches_its_state(
    client: httpx.AsyncClient, other: httpx.AsyncClient, db: Database, door: str
) -> None:
    taken = str(uuid.uuid4())
    a_run = await _send(client, door, await _flow_run(client), taken, "FAILED", SECRET)
    b_run = await _send(other, door, await _flow_run(other), taken, "COMPLETED", "b's own")

    # B's run is recorded, with its own state under a fresh id...
    [(b_state_id, _, b_type)] = await _states_of(db, b_run)
    assert b_type == "COMPLETED" and str(b_state_id) != taken
    read = await other.get(f"/task_runs/{b_run}")
    assert read.status_code == 200, read.text
    assert read.json()["state"]["type"] == "COMPLETED"
    assert read.json()["state"]["id"] == str(b_state_id)
    assert read.json()["state"]["message"] == "b's own"
    # ...A's state is still A's alone, and nothing B reads shows it.
    assert [(str(i), t) for i, _, t in await _states_of(db, a_run)] == [(taken, "FAILED")]
    assert (await other.get(f"/task_run_states/{taken}")).status_code == 404
    filtered = await other.post("/task_runs/filter", json={})
    assert SECRET not in filtered.text and taken not in filtered.text
    history = await other.get("/task_run_states/", params={"task_run_id": b_run})
    assert history.status_code == 200 and taken not in history.text
    events = await other.post("/events/filter", json={})
    assert SECRET not in events.text
    assert (await client.get(f"/task_runs/{a_run}")).json()["state"]["message"] == SECRET


async def test_one_state_id_twice_in_a_batch_gives_each_run_its_own_state(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_run = await _flow_run(client)
    shared = str(uuid.uuid4())
    first = _report(flow_run, shared, "FAILED", "first")
    second = {**_report(flow_run, shared, "COMPLETED", "second"), "dynamic_key": "1"}
    response = await client.post("/task_runs/reports", json=[first, second])
    assert response.status_code == 204, response.text
    for body, state_type in ((first, "FAILED"), (second, "COMPLETED")):
        read = (await client.get(f"/task_runs/{body['id']}")).json()
        assert read["state"]["type"] == state_type
        assert [t for _, _, t in await _states_of(db, body["id"])] == [state_type]


async def test_reads_join_a_runs_state_within_its_workspace(
    client: httpx.AsyncClient, other: httpx.AsyncClient, db: Database
) -> None:
    """Should a run ever point at another workspace's state id (two replicas racing on
    PostgreSQL between the recorder's id check and its insert), its reads still never show
    that state: they join states by id *and* workspace."""
    taken = str(uuid.uuid4())
    await _send(client, "reports", await _flow_run(client), taken, "FAILED", SECRET)
    b_run = await _send(other, "reports", await _flow_run(other), str(uuid.uuid4()),
                        "COMPLETED", "b's own")  # fmt: skip
    async with db.write() as session:
        await session.execute(
            sa.update(orm.TaskRun)
            .where(orm.TaskRun.id == uuid.UUID(b_run))
            .values(state_id=uuid.UUID(taken))
        )
    read = await other.get(f"/task_runs/{b_run}")
    assert read.status_code == 200, read.text
    assert SECRET not in read.text and read.json()["state"]["type"] == "COMPLETED"
    filtered = await other.post("/task_runs/filter", json={})
    assert SECRET not in filtered.text
    # A transition reads the current state the same way: B's run is Completed, not Failed.
    proposed = await other.post(f"/task_runs/{b_run}/set_state",
                                json={"state": {"type": "RUNNING"}})  # fmt: skip
    assert proposed.status_code in (200, 201), proposed.text
    assert SECRET not in proposed.text
