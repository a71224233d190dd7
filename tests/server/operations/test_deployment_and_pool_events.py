"""Deployments, work pools and work queues tell of every change in the transaction that
makes it, with the contract's event names, resources and related resources; scheduled runs
are each told as ``prefect.flow-run.Scheduled``; a rolled-back change stores no event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from lifecycle_event_helpers import names, only, payload, related_ids, stored

from flowyard.schemas import work_pools as pool_schemas
from flowyard.schemas.deployments import DeploymentCreate
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.operations import deployments, work_pools, work_queues
from flowyard.server.operations.context import RequestContext, Tx
from flowyard.server.orchestration import scheduled_runs
from flowyard.server.queries import schedules as schedule_queries


class Boom(Exception):
    """Raised inside a transaction to roll it back."""


def _context(app: FastAPI, db: Database) -> RequestContext:
    return RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def _flow(client: httpx.AsyncClient, name: str = "etl") -> str:
    return str((await _ok(await client.post("/flows/", json={"name": name})))["id"])


# --- deployments ---------------------------------------------------------------------------


async def test_a_deployment_tells_of_creation_update_and_deletion(
    client: httpx.AsyncClient, db: Database
) -> None:
    pool = await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    flow_id = await _flow(client)
    body = {"name": "nightly", "flow_id": flow_id, "work_pool_name": "p", "tags": ["t"]}
    deployment = await _ok(await client.post("/deployments/", json=body))
    created = await only(db, "prefect.deployment.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.deployment.{deployment['id']}",
        "prefect.resource.name": "nightly",
    }
    assert related_ids(created) == {
        "flow": f"prefect.flow.{flow_id}",
        "work-queue": f"prefect.work-queue.{pool['default_queue_id']}",
        "work-pool": f"prefect.work-pool.{pool['id']}",
    }
    by_role = {r["prefect.resource.role"]: r for r in created.related}
    assert by_role["flow"]["prefect.resource.name"] == "etl"
    assert by_role["work-queue"]["prefect.resource.name"] == "default"
    assert by_role["work-pool"]["prefect.work-pool.type"] == "process"

    # Deployed again unchanged (what every ``serve()`` start does): nothing to tell.
    assert (await client.post("/deployments/", json=body)).status_code == 200
    assert await names(db, "prefect.deployment.") == ["prefect.deployment.created"]
    # Deployed again with a change, patched, paused and resumed: each names its fields.
    await _ok(await client.post("/deployments/", json={**body, "description": "d"}))
    url = f"/deployments/{deployment['id']}"
    await _ok(await client.patch(url, json={"tags": ["t", "u"]}))
    await _ok(await client.post(f"{url}/pause_deployment"))
    await _ok(await client.post(f"{url}/resume_deployment"))
    updates = await stored(db, "prefect.deployment.updated")
    assert [payload(e) for e in updates] == [
        {"updated_fields": ["description"], "updates": {"description": {"from": None, "to": "d"}}},
        {"updated_fields": ["tags"], "updates": {"tags": {"from": ["t"], "to": ["t", "u"]}}},
        {"updated_fields": ["paused"], "updates": {"paused": {"from": False, "to": True}}},
        {"updated_fields": ["paused"], "updates": {"paused": {"from": True, "to": False}}},
    ]
    # A refused change tells nothing.
    refused = await client.patch(url, json={"work_pool_name": "missing"})
    assert refused.status_code == 404
    assert len(await stored(db, "prefect.deployment.updated")) == 4

    await _ok(await client.delete(url))
    deleted = await only(db, "prefect.deployment.deleted")
    assert deleted.resource["prefect.resource.id"] == f"prefect.deployment.{deployment['id']}"
    assert related_ids(deleted)["flow"] == f"prefect.flow.{flow_id}"
    assert (await client.delete(url)).status_code == 404
    assert len(await stored(db, "prefect.deployment.deleted")) == 1


async def test_bulk_delete_tells_of_each_deployment(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = await _flow(client)
    ids = [
        (await _ok(await client.post("/deployments/", json={"name": n, "flow_id": flow_id})))["id"]
        for n in ("a", "b")
    ]
    deleted = await _ok(await client.post("/deployments/bulk_delete", json={}))
    assert sorted(deleted["deleted"]) == sorted(ids)
    events = await stored(db, "prefect.deployment.deleted")
    assert sorted(e.resource["prefect.resource.id"] for e in events) == sorted(
        f"prefect.deployment.{i}" for i in ids
    )


async def test_a_rolled_back_deployment_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = await _flow(client)
    ctx = _context(app, db)
    schedule = {"schedule": {"interval": 3600}}
    with pytest.raises(Boom):
        async with db.write() as session:
            create = DeploymentCreate.model_validate(
                {"name": "doomed", "flow_id": flow_id, "schedules": [schedule]}
            )
            await deployments.create_deployment(Tx(ctx, session, True), create)
            raise Boom
    assert await names(db) == ["prefect.flow.created"]  # neither the deployment's nor its runs'
    assert (await client.post("/deployments/count", json={})).json() == 0


# --- scheduled runs --------------------------------------------------------------------------


async def test_each_scheduled_run_is_told_with_its_related_resources(
    client: httpx.AsyncClient, db: Database
) -> None:
    await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    flow_id = await _flow(client)
    body = {
        "name": "hourly", "flow_id": flow_id, "work_pool_name": "p", "tags": ["t"],
        "schedules": [{"schedule": {"interval": 3600}, "max_scheduled_runs": 5}],
    }  # fmt: skip
    deployment = await _ok(await client.post("/deployments/", json=body))
    runs = await _ok(
        await client.post(
            "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
        )
    )
    assert len(runs) == 5
    events = await stored(db, "prefect.flow-run.")
    assert sorted(e.resource["prefect.resource.id"] for e in events) == sorted(
        f"prefect.flow-run.{run['id']}" for run in runs
    )
    by_id = {run["id"]: run for run in runs}
    for event in events:
        run = by_id[event.resource["prefect.resource.id"].removeprefix("prefect.flow-run.")]
        assert event.event == "prefect.flow-run.Scheduled"
        assert str(event.id) == run["state"]["id"]  # the event is the state's
        assert event.resource["prefect.resource.name"] == run["name"]
        assert event.resource["prefect.state-type"] == "SCHEDULED"
        assert payload(event)["validated_state"] == {"type": "SCHEDULED", "name": "Scheduled"}
        found = {r["prefect.resource.id"]: r for r in event.related}
        assert found[f"prefect.flow.{flow_id}"]["prefect.resource.name"] == "etl"
        assert found[f"prefect.deployment.{deployment['id']}"]["prefect.resource.name"] == "hourly"
        assert found[f"prefect.work-queue.{run['work_queue_id']}"]["prefect.resource.name"] == (
            "default"
        )
        assert found[f"prefect.work-pool.{run['work_pool_id']}"]["prefect.resource.name"] == "p"
        assert {"prefect.tag.t", "prefect.tag.auto-scheduled"} <= set(found)
    # A second pass finds every slot taken: no run, and no event, twice.
    async with db.write() as session:
        row = await session.get(DeploymentRow, uuid.UUID(deployment["id"]))
        assert row is not None
        assert await scheduled_runs.schedule_deployment(session, row) == 0
    assert len(await stored(db, "prefect.flow-run.")) == 5


async def test_a_rolled_back_scheduler_pass_stores_neither_runs_nor_events(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = await _flow(client)
    body = {
        "name": "hourly", "flow_id": flow_id, "paused": True,
        "schedules": [{"schedule": {"interval": 3600}, "max_scheduled_runs": 3}],
    }  # fmt: skip
    await _ok(await client.post("/deployments/", json=body))
    async with db.write() as session:
        await session.execute(sa.update(DeploymentRow).values(paused=False))
    with pytest.raises(Boom):
        async with db.write() as session:
            ids = await schedule_queries.scheduled_deployment_ids(session, None, 10)
            batch = await schedule_queries.lock_for_scheduling(session, ids)
            now = dt.datetime.now(dt.UTC)
            assert await scheduled_runs.schedule_runs(session, batch, now) == 3
            raise Boom
    assert await stored(db, "prefect.flow-run.") == []
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(orm.FlowRun)) == 0


# --- work pools ----------------------------------------------------------------------------


async def test_a_work_pool_tells_of_its_lifecycle_and_status_changes(
    client: httpx.AsyncClient, db: Database
) -> None:
    pool = await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    created = await only(db, "prefect.work-pool.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.work-pool.{pool['id']}",
        "prefect.resource.name": "p",
        "prefect.work-pool.type": "process",
        "prefect.resource.role": "work-pool",
    }
    assert related_ids(created) == {
        "default-queue": f"prefect.work-queue.{pool['default_queue_id']}"
    }

    await _ok(await client.patch("/work_pools/p", json={"description": "d"}))
    await _ok(await client.patch("/work_pools/p", json={"description": "d"}))  # no change
    updated = await only(db, "prefect.work-pool.updated")
    assert payload(updated) == {
        "updated_fields": ["description"],
        "updates": {"description": {"from": None, "to": "d"}},
    }
    # Paused, resumed (no worker yet: not ready), and made ready by a worker's heartbeat.
    await _ok(await client.patch("/work_pools/p", json={"is_paused": True}))
    await _ok(await client.patch("/work_pools/p", json={"is_paused": False}))
    beat = {"name": "w1", "heartbeat_interval_seconds": 30}
    await _ok(await client.post("/work_pools/p/workers/heartbeat", json=beat))
    await _ok(await client.post("/work_pools/p/workers/heartbeat", json=beat))  # still ready
    statuses = [
        e for e in await stored(db, "prefect.work-pool.") if e.event.split(".")[-1] not in
        ("created", "updated")
    ]  # fmt: skip
    assert [e.event for e in statuses] == [
        "prefect.work-pool.paused", "prefect.work-pool.not-ready", "prefect.work-pool.ready",
    ]  # fmt: skip
    assert statuses[0].resource["prefect.work-pool.type"] == "process"

    assert (await client.delete("/work_pools/missing")).status_code == 404
    await _ok(await client.delete("/work_pools/p"))
    deleted = await only(db, "prefect.work-pool.deleted")
    assert deleted.resource["prefect.resource.id"] == f"prefect.work-pool.{pool['id']}"


async def test_a_refused_or_rolled_back_pool_change_stores_no_event(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    assert (await client.post("/work_pools/", json={"name": "p"})).status_code == 409
    bad = {"base_job_template": {"job_configuration": {}, "variables": {"type": "array"}}}
    assert (await client.patch("/work_pools/p", json=bad)).status_code == 422
    with pytest.raises(Boom):
        async with db.write() as session:
            tx = Tx(_context(app, db), session, True)
            await work_pools.create_work_pool(tx, pool_schemas.WorkPoolCreate(name="doomed"))
            await work_queues.create_work_queue(tx, pool_schemas.WorkQueueCreate(name="q"), "p")
            raise Boom
    assert await names(db, "prefect.work-") == ["prefect.work-pool.created"]


# --- work queues ---------------------------------------------------------------------------


async def test_a_work_queue_tells_of_its_lifecycle_with_its_pool(
    client: httpx.AsyncClient, db: Database
) -> None:
    pool = await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    queue = await _ok(await client.post("/work_pools/p/queues", json={"name": "q"}))
    created = await only(db, "prefect.work-queue.created")
    assert created.resource == {
        "prefect.resource.id": f"prefect.work-queue.{queue['id']}",
        "prefect.resource.name": "q",
        "prefect.resource.role": "work-queue",
    }
    assert created.related == [
        {
            "prefect.resource.id": f"prefect.work-pool.{pool['id']}",
            "prefect.resource.name": "p",
            "prefect.resource.role": "work-pool",
            "prefect.work-pool.type": "process",
        }
    ]
    await _ok(await client.patch("/work_pools/p/queues/q", json={"priority": 5}))
    await _ok(await client.patch(f"/work_queues/{queue['id']}", json={"name": "r"}))
    updates = await stored(db, "prefect.work-queue.updated")
    assert [payload(e)["updated_fields"] for e in updates] == [["priority"], ["name"]]
    assert updates[1].resource["prefect.resource.name"] == "r"
    assert payload(updates[1])["updates"] == {"name": {"from": "q", "to": "r"}}

    # Paused, resumed, and the first poll makes it (and the pool) ready.
    await _ok(await client.patch(f"/work_queues/{queue['id']}", json={"is_paused": True}))
    await _ok(await client.patch(f"/work_queues/{queue['id']}", json={"is_paused": False}))
    poll = {"work_queue_names": ["r"]}
    await _ok(await client.post("/work_pools/p/get_scheduled_flow_runs", json=poll))
    await _ok(await client.post("/work_pools/p/get_scheduled_flow_runs", json=poll))  # again
    statuses = [
        e.event for e in await stored(db, "prefect.work-")
        if e.event.endswith(("paused", "ready"))
    ]  # fmt: skip
    assert statuses == [
        "prefect.work-queue.paused", "prefect.work-queue.not-ready",
        "prefect.work-queue.ready", "prefect.work-pool.ready",
    ]  # fmt: skip

    await _ok(await client.delete(f"/work_queues/{queue['id']}"))
    deleted = await only(db, "prefect.work-queue.deleted")
    assert related_ids(deleted) == {"work-pool": f"prefect.work-pool.{pool['id']}"}


async def test_a_queue_without_a_pool_tells_of_the_default_pool_made_for_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    queue = await _ok(await client.post("/work_queues/", json={"name": "legacy"}))
    assert await names(db, "prefect.work-") == [
        "prefect.work-pool.created",
        "prefect.work-queue.created",
    ]
    pool = await only(db, "prefect.work-pool.created")
    assert pool.resource["prefect.resource.name"] == "default-agent-pool"
    created = await only(db, "prefect.work-queue.created")
    assert created.resource["prefect.resource.id"] == f"prefect.work-queue.{queue['id']}"
