"""Work pools, queues and workers over the API: CRUD in the Prefect wire format, the poll
workers take runs from (priorities, pause, concurrency limits, long-poll), statuses, and bad
input refused with the field named and nothing stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy
from flowyard.server.queries.job_templates import (
    PROCESS_BASE_JOB_TEMPLATE,
    InvalidJobTemplate,
    validate_job_variables,
)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def make_pool(client: httpx.AsyncClient, name: str = "pool", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "type": "process", **extra}
    response = await client.post("/work_pools/", json=body)
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


async def make_run(
    client: httpx.AsyncClient,
    pool: str,
    queue: str | None = None,
    *,
    at: dt.datetime | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    flow = (await client.post("/flows/", json={"name": "queued-flow"})).json()
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": iso(at or now())}}
    body = {"flow_id": flow["id"], "state": state, "work_pool_name": pool, "name": name}
    if queue is not None:
        body["work_queue_name"] = queue
    response = await client.post("/flow_runs/", json=body)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def poll(client: httpx.AsyncClient, pool: str, **body: Any) -> list[dict[str, Any]]:
    response = await client.post(f"/work_pools/{pool}/get_scheduled_flow_runs", json=body)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


async def set_state(client: httpx.AsyncClient, run_id: str, state_type: str) -> str:
    response = await client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": state_type}}
    )
    status: str = response.json()["status"]
    return status


async def test_create_pool_makes_default_queue_and_reads_back(client: httpx.AsyncClient) -> None:
    pool = await make_pool(client, description="local processes", concurrency_limit=3)
    assert pool["type"] == "process" and pool["status"] == "NOT_READY"
    assert pool["base_job_template"] == PROCESS_BASE_JOB_TEMPLATE  # filled for process pools
    assert pool["active_slots"] == 0 and pool["default_queue_id"]
    queues = (await client.post("/work_pools/pool/queues/filter", json={})).json()
    assert [q["name"] for q in queues] == ["default"]
    assert queues[0]["id"] == pool["default_queue_id"] and queues[0]["work_pool_name"] == "pool"
    by_id = (await client.get(f"/work_queues/{pool['default_queue_id']}")).json()
    assert by_id["name"] == "default" and by_id["work_pool_id"] == pool["id"]
    assert (await client.get("/work_pools/pool")).json()["id"] == pool["id"]
    duplicate = await client.post("/work_pools/", json={"name": "pool", "type": "process"})
    assert duplicate.status_code == 409 and "pool" in duplicate.json()["detail"]
    assert (await client.get("/work_pools/nope")).status_code == 404
    await make_pool(client, "other", type="docker", base_job_template={})
    assert (await client.post("/work_pools/count", json={})).json() == 2
    only = {"work_pools": {"type": {"any_": ["docker"]}}}
    assert [p["name"] for p in (await client.post("/work_pools/filter", json=only)).json()] == [
        "other"
    ]
    # The official client sends explicit nulls for paging.
    listed = await client.post("/work_pools/filter", json={"limit": None, "offset": None})
    assert [p["name"] for p in listed.json()] == ["other", "pool"]


async def test_update_pause_and_queue_crud(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    assert (await client.patch("/work_pools/pool", json={"is_paused": True})).status_code == 204
    assert (await client.get("/work_pools/pool")).json()["status"] == "PAUSED"
    await client.patch("/work_pools/pool", json={"is_paused": False, "concurrency_limit": 2})
    pool = (await client.get("/work_pools/pool")).json()
    assert pool["status"] == "NOT_READY" and pool["concurrency_limit"] == 2

    created = await client.post("/work_pools/pool/queues", json={"name": "high", "priority": 5})
    assert created.status_code == 201 and created.json()["priority"] == 5
    auto = (await client.post("/work_pools/pool/queues", json={"name": "low"})).json()
    assert auto["priority"] == 6  # after the pool's others
    again = await client.post("/work_pools/pool/queues", json={"name": "high"})
    assert again.status_code == 409
    patch = {"concurrency_limit": 1, "is_paused": True, "description": "x"}
    assert (await client.patch("/work_pools/pool/queues/high", json=patch)).status_code == 204
    high = (await client.get("/work_pools/pool/queues/high")).json()
    assert high["concurrency_limit"] == 1 and high["status"] == "PAUSED"
    assert high["active_slots"] == 0
    renamed = await client.patch(f"/work_queues/{high['id']}", json={"name": "urgent"})
    assert renamed.status_code == 204
    assert (await client.get("/work_pools/pool/queues/urgent")).status_code == 200
    default = await client.delete("/work_pools/pool/queues/default")
    assert default.status_code == 409 and "default" in default.json()["detail"]
    assert (await client.delete("/work_pools/pool/queues/low")).status_code == 204
    assert (await client.get("/work_pools/pool/queues/low")).status_code == 404
    filtered = await client.post(
        "/work_queues/filter", json={"work_queues": {"name": {"any_": ["urgent"]}}}
    )
    assert [q["name"] for q in filtered.json()] == ["urgent"]


async def test_heartbeat_makes_pool_ready_and_lists_workers(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    beat = {"name": "w1", "heartbeat_interval_seconds": 30}
    assert (await client.post("/work_pools/pool/workers/heartbeat", json=beat)).status_code == 204
    returned = await client.post(
        "/work_pools/pool/workers/heartbeat", json={**beat, "return_id": True}
    )
    assert returned.status_code == 200 and uuid.UUID(returned.json())
    assert (await client.get("/work_pools/pool")).json()["status"] == "READY"
    online = {"workers": {"status": {"any_": ["ONLINE"]}}, "offset": None, "limit": None}
    workers = (await client.post("/work_pools/pool/workers/filter", json=online)).json()
    assert [w["name"] for w in workers] == ["w1"] and workers[0]["status"] == "ONLINE"
    assert workers[0]["id"] == returned.json()
    assert (await client.delete("/work_pools/pool/workers/w1")).status_code == 204
    assert (await client.post("/work_pools/pool/workers/filter", json={})).json() == []
    assert (await client.get("/work_pools/pool")).json()["status"] == "NOT_READY"
    assert (await client.delete("/work_pools/pool/workers/w1")).status_code == 404


async def test_poll_returns_due_runs_by_queue_priority(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    await client.post("/work_pools/pool/queues", json={"name": "urgent", "priority": 1})
    await client.patch("/work_pools/pool/queues/default", json={"priority": 2})
    first = await make_run(client, "pool", name="background", at=now() - dt.timedelta(seconds=9))
    second = await make_run(client, "pool", "urgent", name="urgent-run")
    later = await make_run(client, "pool", name="later", at=now() + dt.timedelta(hours=1))
    assert second["work_queue_name"] == "urgent" and second["work_pool_name"] == "pool"
    runs = await poll(client, "pool")
    assert [r["flow_run"]["name"] for r in runs] == ["urgent-run", "background"]
    assert runs[0]["work_queue_id"] == second["work_queue_id"]
    assert runs[0]["flow_run"]["state"]["type"] == "SCHEDULED"
    ahead = await poll(client, "pool", scheduled_before=iso(now() + dt.timedelta(hours=2)))
    assert later["id"] in {r["flow_run"]["id"] for r in ahead}
    assert [r["flow_run"]["name"] for r in await poll(client, "pool", limit=1)] == ["urgent-run"]
    only = await poll(client, "pool", work_queue_names=["default"])
    assert [r["flow_run"]["id"] for r in only] == [first["id"]]
    # Polling records itself: the queues were polled, the pool has a worker.
    default = (await client.get("/work_pools/pool/queues/default")).json()
    assert default["last_polled"] is not None and default["status"] == "READY"
    # A claimed run is no longer offered.
    assert await set_state(client, second["id"], "PENDING") == "ACCEPT"
    assert [r["flow_run"]["name"] for r in await poll(client, "pool")] == ["background"]


async def test_poll_respects_pause_and_concurrency_limits(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    runs = [await make_run(client, "pool", name=f"r{i}") for i in range(3)]
    await client.patch("/work_pools/pool/queues/default", json={"is_paused": True})
    assert await poll(client, "pool") == []
    await client.patch("/work_pools/pool/queues/default", json={"is_paused": False})
    await client.patch("/work_pools/pool", json={"is_paused": True})
    assert await poll(client, "pool") == []
    await client.patch("/work_pools/pool", json={"is_paused": False})

    await client.patch("/work_pools/pool/queues/default", json={"concurrency_limit": 2})
    assert len(await poll(client, "pool")) == 2
    assert await set_state(client, runs[0]["id"], "PENDING") == "ACCEPT"
    assert len(await poll(client, "pool")) == 1  # one of two slots is held
    queue = (await client.get("/work_pools/pool/queues/default")).json()
    assert queue["active_slots"] == 1

    await client.patch("/work_pools/pool/queues/default", json={"concurrency_limit": None})
    await client.patch("/work_pools/pool", json={"concurrency_limit": 1})
    assert await poll(client, "pool") == []  # the pool's one slot is held
    assert (await client.get("/work_pools/pool")).json()["active_slots"] == 1
    assert await set_state(client, runs[0]["id"], "RUNNING") == "ACCEPT"
    assert await set_state(client, runs[0]["id"], "COMPLETED") == "ACCEPT"
    assert len(await poll(client, "pool")) == 1


async def test_long_poll_wakes_for_a_new_run_and_for_a_run_coming_due(
    client: httpx.AsyncClient,
) -> None:
    await make_pool(client)
    # Nothing due: the poll waits its whole time, then answers empty.
    started = time.monotonic()
    assert await poll(client, "pool", wait_seconds=0.6) == []
    assert time.monotonic() - started >= 0.5

    # A run created while a worker waits is handed to it.
    waiting = asyncio.create_task(poll(client, "pool", wait_seconds=30))
    await asyncio.sleep(0.3)
    run = await make_run(client, "pool", name="new")
    got = await asyncio.wait_for(waiting, 20)
    assert [r["flow_run"]["id"] for r in got] == [run["id"]]

    # A run scheduled ahead is handed over once due, within the same wait.
    await set_state(client, run["id"], "PENDING")
    due = now() + dt.timedelta(seconds=1.5)
    ahead = await make_run(client, "pool", name="ahead", at=due)
    got = await poll(client, "pool", wait_seconds=30)
    assert [r["flow_run"]["id"] for r in got] == [ahead["id"]]
    assert now() >= due - dt.timedelta(seconds=0.05)


async def test_delete_pool_with_unfinished_runs_is_refused(client: httpx.AsyncClient) -> None:
    await make_pool(client)
    run = await make_run(client, "pool")
    refused = await client.delete("/work_pools/pool")
    assert refused.status_code == 409
    assert "1 flow run" in refused.json()["detail"]
    assert (await client.get("/work_pools/pool")).status_code == 200  # nothing changed
    await set_state(client, run["id"], "CANCELLED")
    assert (await client.delete("/work_pools/pool")).status_code == 204
    assert (await client.get("/work_pools/pool")).status_code == 404
    assert (await client.post("/work_queues/filter", json={})).json() == []


async def test_bad_input_names_the_field_and_stores_nothing(client: httpx.AsyncClient) -> None:
    bad_name = await client.post("/work_pools/", json={"name": "a/b", "type": "process"})
    assert bad_name.status_code == 422 and "name" in bad_name.json()["detail"]
    negative = await client.post(
        "/work_pools/", json={"name": "p", "type": "process", "concurrency_limit": -1}
    )
    assert negative.status_code == 422 and "concurrency_limit" in negative.json()["detail"]
    no_vars = await client.post(
        "/work_pools/",
        json={"name": "p", "type": "custom", "base_job_template": {"job_configuration": {}}},
    )
    assert no_vars.status_code == 422 and "variables" in no_vars.json()["detail"]
    undeclared = {
        "job_configuration": {"command": "{{ cmd }}"},
        "variables": {"type": "object", "properties": {}},
    }
    bad_placeholder = await client.post(
        "/work_pools/", json={"name": "p", "type": "custom", "base_job_template": undeclared}
    )
    assert bad_placeholder.status_code == 422 and "cmd" in bad_placeholder.json()["detail"]
    assert (await client.post("/work_pools/count", json={})).json() == 0
    await make_pool(client, "p")
    bad_patch = await client.patch("/work_pools/p", json={"base_job_template": {"x": 1}})
    assert bad_patch.status_code == 422
    assert (await client.get("/work_pools/p")).json()["base_job_template"] == (
        PROCESS_BASE_JOB_TEMPLATE
    )
    bad_priority = await client.post("/work_pools/p/queues", json={"name": "q", "priority": 0})
    assert bad_priority.status_code == 422 and "priority" in bad_priority.json()["detail"]
    unknown = await client.post("/work_pools/missing/queues", json={"name": "q"})
    assert unknown.status_code == 404 and "missing" in unknown.json()["detail"]
    wait = await client.post("/work_pools/p/get_scheduled_flow_runs", json={"wait_seconds": -1})
    assert wait.status_code == 422 and "wait_seconds" in wait.json()["detail"]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"env": {"A": 1}}, "job_variables.env"),
        ({"stream_output": "yes"}, "job_variables.stream_output"),
        ({"command": ["python", "x.py"]}, "job_variables.command"),
        ({"working_dir": 3}, "job_variables.working_dir"),
    ],
)
def test_job_variables_checked_against_the_template(variables: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidJobTemplate) as refused:
        validate_job_variables(PROCESS_BASE_JOB_TEMPLATE, variables)
    assert refused.value.status_code == 422 and named in refused.value.message


def test_valid_job_variables_pass() -> None:
    validate_job_variables(
        PROCESS_BASE_JOB_TEMPLATE,
        {"env": {"A": "1"}, "working_dir": "/tmp", "command": "python x.py", "extra": 1},
    )
    strict = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"image": {"enum": ["a", "b"]}},
        },
    }
    validate_job_variables(strict, {"image": "a"})
    with pytest.raises(InvalidJobTemplate, match="job_variables.image"):
        validate_job_variables(strict, {"image": "c"})
    with pytest.raises(InvalidJobTemplate, match="job_variables.other"):
        validate_job_variables(strict, {"other": 1})


def test_job_variables_against_an_unusable_template_are_a_422() -> None:
    cyclic = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {
            "type": "object",
            "properties": {"image": {"$ref": "#/definitions/I"}},
            "definitions": {"I": {"anyOf": [{"$ref": "#/definitions/I"}, {"type": "null"}]}},
        },
    }
    with pytest.raises(InvalidJobTemplate, match=r"job_variables\.image: .*cyclic"):
        validate_job_variables(cyclic, {"image": "a"})
    bounded = {
        "job_configuration": {"cpu": "{{ cpu }}"},
        "variables": {"type": "object", "properties": {"cpu": {"maximum": "lots"}}},
    }
    with pytest.raises(InvalidJobTemplate, match=r"job_variables\.cpu: .*maximum"):
        validate_job_variables(bounded, {"cpu": 2})


async def test_a_run_against_a_cyclic_template_is_refused_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    template = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {
            "type": "object",
            "properties": {"image": {"$ref": "#/definitions/I"}},
            "definitions": {"I": {"allOf": [{"$ref": "#/definitions/I"}]}},
        },
    }
    await make_pool(client, "cyclic", base_job_template=template)
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    body = {"flow_id": flow["id"], "work_pool_name": "cyclic", "job_variables": {"image": "a"}}
    refused = await client.post("/flow_runs/", json=body)
    assert refused.status_code == 422, refused.text
    assert "job_variables.image" in refused.json()["detail"]
    assert "cyclic" in refused.json()["detail"]


async def test_run_with_job_variables_the_pool_refuses_is_not_stored(
    client: httpx.AsyncClient,
) -> None:
    await make_pool(client)
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    body = {"flow_id": flow["id"], "work_pool_name": "pool", "job_variables": {"env": "A=1"}}
    refused = await client.post("/flow_runs/", json=body)
    assert refused.status_code == 422 and "job_variables.env" in refused.json()["detail"]
    assert (await client.post("/flow_runs/count", json={})).json() == 0
    body["job_variables"] = {"env": {"A": "1"}}
    assert (await client.post("/flow_runs/", json=body)).status_code == 201


async def test_long_poll_finds_runs_it_was_not_told_about(client: httpx.AsyncClient) -> None:
    # A run made due without the in-process wake-up (as when another server process on the
    # same database schedules it): the poll's periodic look finds it within its wait.
    await make_pool(client)
    run = await make_run(client, "pool")
    assert await set_state(client, run["id"], "PENDING") == "ACCEPT"
    waiting = asyncio.create_task(poll(client, "pool", wait_seconds=30))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    rescheduled = await client.post(
        f"/flow_runs/{run['id']}/set_state",
        json={"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True},
    )
    assert rescheduled.json()["status"] == "ACCEPT"
    got = await asyncio.wait_for(waiting, 20)
    assert [r["flow_run"]["id"] for r in got] == [run["id"]]


async def test_pools_belong_to_their_workspace(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    account = app.state.default_account_id
    async with db.write() as session:
        other = await tenancy.create_workspace(session, account, "Other", "other")
    prefix = f"/accounts/{account}/workspaces/{other.id}"
    await make_pool(client)  # the default workspace's "pool"
    created = await client.post(f"{prefix}/work_pools/", json={"name": "pool", "type": "process"})
    assert created.status_code == 201  # the same name, another workspace
    assert created.json()["id"] != (await client.get("/work_pools/pool")).json()["id"]
    await make_run(client, "pool")
    assert len(await poll(client, "pool")) == 1
    theirs = await client.post(f"{prefix}/work_pools/pool/get_scheduled_flow_runs", json={})
    assert theirs.json() == []
    assert (await client.post(f"{prefix}/work_pools/count", json={})).json() == 1
    queue_id = created.json()["default_queue_id"]
    assert (await client.get(f"/work_queues/{queue_id}")).status_code == 404
    assert (await client.get(f"{prefix}/work_queues/{queue_id}")).status_code == 200


async def test_silent_workers_leave_the_pool_not_ready(
    client: httpx.AsyncClient, db: Database
) -> None:
    import sqlalchemy as sa

    from flowyard.server.database.orm_work_pools import Worker

    await make_pool(client)
    beat = {"name": "w1", "heartbeat_interval_seconds": 10}
    await client.post("/work_pools/pool/workers/heartbeat", json=beat)
    assert (await client.get("/work_pools/pool")).json()["status"] == "READY"
    # Its last heartbeat three intervals and more ago: the worker is gone.
    async with db.write() as session:
        await session.execute(
            sa.update(Worker).values(last_heartbeat_time=now() - dt.timedelta(seconds=31))
        )
    assert (await client.get("/work_pools/pool")).json()["status"] == "NOT_READY"
    [worker] = (await client.post("/work_pools/pool/workers/filter", json={})).json()
    assert worker["status"] == "OFFLINE"
    offline = {"workers": {"status": {"any_": ["OFFLINE"]}}}
    assert len((await client.post("/work_pools/pool/workers/filter", json=offline)).json()) == 1
    await client.post("/work_pools/pool/workers/heartbeat", json=beat)
    assert (await client.get("/work_pools/pool")).json()["status"] == "READY"


async def test_a_worker_poll_makes_the_deployments_of_the_polled_queues_ready(
    client: httpx.AsyncClient,
) -> None:
    await make_pool(client, "ready-pool")
    created = await client.post("/work_pools/ready-pool/queues", json={"name": "other"})
    assert created.status_code == 201, created.text
    flow_id = (await client.post("/flows/", json={"name": "polled"})).json()["id"]

    async def deployment(name: str, queue: str) -> str:
        body = {
            "name": name,
            "flow_id": flow_id,
            "work_pool_name": "ready-pool",
            "work_queue_name": queue,
        }
        made = await client.post("/deployments/", json=body)
        assert made.status_code in (200, 201), made.text
        return str(made.json()["id"])

    async def status(deployment_id: str) -> tuple[str, Any]:
        body = (await client.get(f"/deployments/{deployment_id}")).json()
        return body["status"], body["last_polled"]

    polled, unpolled = await deployment("polled", "default"), await deployment("idle", "other")
    assert await status(polled) == ("NOT_READY", None)
    before = now()
    await poll(client, "ready-pool", work_queue_names=["default"])
    state, last_polled = await status(polled)
    assert state == "READY" and dt.datetime.fromisoformat(last_polled) >= before
    # A queue the worker did not poll leaves its deployments as they were.
    assert await status(unpolled) == ("NOT_READY", None)
    await poll(client, "ready-pool")
    assert (await status(unpolled))[0] == "READY"
