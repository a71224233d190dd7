"""Deployments over the API in the Prefect wire format: upsert by flow and name, reads,
filters, updates, pause/resume (with their scheduled runs), create_flow_run with parameter
validation, schedules CRUD, the runs serve() polls for, and bad input refused by name with
nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "n": {"title": "n", "type": "integer", "position": 0},
        "label": {"title": "label", "type": "string", "default": "x", "position": 1},
    },
    "required": ["n"],
}


async def make_flow(client: httpx.AsyncClient, name: str = "etl") -> str:
    response = await client.post("/flows/", json={"name": name})
    return str(response.json()["id"])


async def make_deployment(
    client: httpx.AsyncClient, name: str = "nightly", flow: str = "etl", **fields: Any
) -> dict[str, Any]:
    flow_id = await make_flow(client, flow)
    body = {"name": name, "flow_id": flow_id, **fields}
    response = await client.post("/deployments/", json=body)
    assert response.status_code in (200, 201), response.text
    deployment: dict[str, Any] = response.json()
    return deployment


async def runs_of(client: httpx.AsyncClient, deployment_id: str) -> list[dict[str, Any]]:
    body = {
        "flow_runs": {"deployment_id": {"any_": [deployment_id]}},
        "sort": "EXPECTED_START_TIME_ASC",
    }
    response = await client.post("/flow_runs/filter", json=body)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


def hourly(**extra: Any) -> dict[str, Any]:
    return {"schedule": {"interval": 3600, "anchor_date": "2020-01-01T00:00:00Z"}, **extra}


async def test_create_is_an_upsert_by_flow_and_name(client: httpx.AsyncClient) -> None:
    first = await make_deployment(client, parameters={"n": 1}, tags=["a"], entrypoint="f.py:etl")
    assert first["name"] == "nightly" and first["parameters"] == {"n": 1}
    assert first["status"] == "NOT_READY" and first["paused"] is False
    again = await make_deployment(client, parameters={"n": 2})
    assert again["id"] == first["id"]
    assert again["parameters"] == {"n": 2}
    assert again["entrypoint"] == "f.py:etl"  # fields not given are kept
    by_name = (await client.get("/deployments/name/etl/nightly")).json()
    assert by_name["id"] == first["id"]
    other_flow = await make_deployment(client, flow="other")
    assert other_flow["id"] != first["id"]
    assert (await client.post("/deployments/count", json={})).json() == 2
    missing = await client.get("/deployments/name/etl/nope")
    assert missing.status_code == 404


async def test_filter_paginate_update_delete(client: httpx.AsyncClient) -> None:
    a = await make_deployment(client, "a", tags=["prod"])
    await make_deployment(client, "b", tags=["dev"])
    body = {"deployments": {"tags": {"all_": ["prod"]}}}
    found = (await client.post("/deployments/filter", json=body)).json()
    assert [d["name"] for d in found] == ["a"]
    by_flow = {"flows": {"name": {"any_": ["etl"]}}, "sort": "NAME_DESC"}
    assert [d["name"] for d in (await client.post("/deployments/filter", json=by_flow)).json()] == [
        "b",
        "a",
    ]
    page = (await client.post("/deployments/paginate", json={"limit": 1, "page": 2})).json()
    assert page["count"] == 2 and page["pages"] == 2 and page["results"][0]["name"] == "b"
    patched = await client.patch(f"/deployments/{a['id']}", json={"description": "hello"})
    assert patched.status_code == 204
    assert (await client.get(f"/deployments/{a['id']}")).json()["description"] == "hello"
    assert (await client.delete(f"/deployments/{a['id']}")).status_code == 204
    assert (await client.get(f"/deployments/{a['id']}")).status_code == 404
    assert (await client.delete(f"/deployments/{a['id']}")).status_code == 404


async def test_create_flow_run_merges_and_validates_parameters(client: httpx.AsyncClient) -> None:
    deployment = await make_deployment(
        client, parameters={"n": 1}, parameter_openapi_schema=SCHEMA, tags=["t"],
        job_variables={"env": {"A": "1"}},
    )  # fmt: skip
    url = f"/deployments/{deployment['id']}/create_flow_run"
    response = await client.post(url, json={"parameters": {"label": "y"}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["deployment_id"] == deployment["id"]
    assert run["parameters"] == {"n": 1, "label": "y"}
    assert run["state"]["type"] == "SCHEDULED" and run["tags"] == ["t"]
    assert run["job_variables"] == {"env": {"A": "1"}}
    bad = await client.post(url, json={"parameters": {"n": "many"}})
    assert bad.status_code == 422 and "n" in bad.json()["detail"]
    assert len(await runs_of(client, deployment["id"])) == 1  # nothing stored on refusal
    unenforced = await client.post(
        url, json={"parameters": {"n": "many"}, "enforce_parameter_schema": False}
    )
    assert unenforced.status_code == 201
    # Bulk: the contract's per-run outcome (FlowRunBulkCreateResponse), in request order.
    bulk = await client.post(url + "/bulk", json=[{"parameters": {"n": 7}}, {}])
    assert bulk.status_code == 200, bulk.text
    results = bulk.json()["results"]
    assert [r["status"] for r in results] == ["CREATED", "CREATED"]
    made = {r["id"]: r for r in await runs_of(client, deployment["id"])}
    assert [made[r["flow_run_id"]]["parameters"]["n"] for r in results] == [7, 1]
    # A refused run is FAILED with its reason and leaves nothing; the others are created.
    mixed = await client.post(url + "/bulk", json=[{}, {"parameters": {"n": "x"}}])
    assert mixed.status_code == 200, mixed.text
    created, refused = mixed.json()["results"]
    assert created["status"] == "CREATED" and created["flow_run_id"] is not None
    assert refused == {"flow_run_id": None, "status": "FAILED", "error": refused["error"]}
    assert refused["error"].startswith("parameters.n")
    assert len(await runs_of(client, deployment["id"])) == 5
    pending = {"state": {"type": "PENDING"}, "idempotency_key": "k1"}
    one = (await client.post(url, json=pending)).json()
    two = await client.post(url, json=pending)
    assert one["state"]["type"] == "PENDING" and two.json()["id"] == one["id"]


async def test_bad_cron_timezone_and_schedule_refused_by_name(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    for schedule, field in [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"interval": -5}, "interval"),
    ]:
        body = {"name": "bad", "flow_id": flow_id, "schedules": [{"schedule": schedule}]}
        response = await client.post("/deployments/", json=body)
        assert response.status_code == 422, (schedule, response.text)
        assert field in response.text
    assert (await client.post("/deployments/count", json={})).json() == 0


@pytest.mark.timeout(10)
async def test_an_rrule_that_never_fires_is_refused_and_an_old_dtstart_is_cheap(
    client: httpx.AsyncClient,
) -> None:
    flow_id = await make_flow(client)
    # Each of these held the server's event loop for many seconds inside this request.
    for rule in (
        "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31",
        "DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
    ):
        body = {"name": "never", "flow_id": flow_id, "schedules": [{"schedule": {"rrule": rule}}]}
        response = await client.post("/deployments/", json=body)
        assert response.status_code == 422, response.text
        assert "rrule" in response.text and "never fires" in response.text
    assert (await client.post("/deployments/count", json={})).json() == 0
    minutely = {"rrule": "DTSTART:20200101T000000\nRRULE:FREQ=MINUTELY"}
    deployment = await make_deployment(client, schedules=[{"schedule": minutely}])
    starts = [r["expected_start_time"] for r in await runs_of(client, deployment["id"])]
    assert len(starts) == 100
    assert all(dt.datetime.fromisoformat(s).second == 0 for s in starts)  # 2020's phase


async def test_schedules_create_runs_and_pause_resume(client: httpx.AsyncClient) -> None:
    deployment = await make_deployment(
        client, parameters={"n": 1},
        schedules=[hourly(parameters={"n": 5}), hourly(active=False, slug="off")],
    )  # fmt: skip
    runs = await runs_of(client, deployment["id"])
    # 100 days of hourly runs is capped at 100 runs; the inactive schedule makes none.
    assert len(runs) == 100
    assert all(r["auto_scheduled"] and r["state"]["type"] == "SCHEDULED" for r in runs)
    assert all(r["parameters"] == {"n": 5} for r in runs)
    starts = [dt.datetime.fromisoformat(r["expected_start_time"]) for r in runs]
    assert all(s.minute == 0 and s.second == 0 for s in starts)
    assert len(set(starts)) == 100
    schedules = (await client.get(f"/deployments/{deployment['id']}/schedules")).json()
    assert [s["active"] for s in schedules] == [True, False]
    assert schedules[0]["schedule"]["interval"] == 3600

    manual = await client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
    assert manual.status_code == 201
    assert (
        await client.post(f"/deployments/{deployment['id']}/pause_deployment")
    ).status_code == 200
    left = await runs_of(client, deployment["id"])
    assert [r["id"] for r in left] == [manual.json()["id"]]  # only the manual run stays
    assert (await client.get(f"/deployments/{deployment['id']}")).json()["paused"] is True
    await client.post(f"/deployments/{deployment['id']}/resume_deployment")
    assert len(await runs_of(client, deployment["id"])) == 101
    # paused through PATCH, as the official serve() does on shutdown
    await client.patch(f"/deployments/{deployment['id']}", json={"paused": True})
    assert len(await runs_of(client, deployment["id"])) == 1


async def test_schedule_routes(client: httpx.AsyncClient) -> None:
    deployment = await make_deployment(client)
    base = f"/deployments/{deployment['id']}/schedules"
    created = await client.post(
        base, json=[{"schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"}}]
    )
    assert created.status_code == 201, created.text
    schedule = created.json()[0]
    assert schedule["schedule"] == {"cron": "0 9 * * 1", "timezone": "Europe/Paris", "day_or": True}
    runs = await runs_of(client, deployment["id"])
    assert 3 <= len(runs) <= 15  # weekly, 100 days ahead
    assert all(dt.datetime.fromisoformat(r["expected_start_time"]).weekday() == 0 for r in runs)
    off = await client.patch(f"{base}/{schedule['id']}", json={"active": False})
    assert off.status_code == 204
    assert await runs_of(client, deployment["id"]) == []
    await client.patch(f"{base}/{schedule['id']}", json={"active": True})
    assert len(await runs_of(client, deployment["id"])) == len(runs)
    bad = await client.patch(f"{base}/{schedule['id']}", json={"schedule": {"cron": "0 9 * *"}})
    assert bad.status_code == 422 and "cron" in bad.text
    assert (await client.delete(f"{base}/{schedule['id']}")).status_code == 204
    assert await runs_of(client, deployment["id"]) == []
    assert (await client.get(base)).json() == []


async def test_get_scheduled_flow_runs_and_delete_removes_future_runs(
    client: httpx.AsyncClient,
) -> None:
    deployment = await make_deployment(client, schedules=[hourly()])
    url = f"/deployments/{deployment['id']}/create_flow_run"
    due = (await client.post(url, json={})).json()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1000)
    body = {"deployment_ids": [deployment["id"]], "scheduled_before": str(later)}
    polled = await client.post("/deployments/get_scheduled_flow_runs", json=body)
    assert polled.status_code == 200, polled.text
    assert len(polled.json()) == 101
    now_only = {"deployment_ids": [deployment["id"]]}
    due_now = (await client.post("/deployments/get_scheduled_flow_runs", json=now_only)).json()
    assert [r["id"] for r in due_now] == [due["id"]]
    assert (await client.get(f"/deployments/{deployment['id']}")).json()["status"] == "READY"
    # flow runs filtered by their deployment's fields
    by_name = {"deployments": {"name": {"any_": ["nightly"]}}, "limit": 200}
    assert len((await client.post("/flow_runs/filter", json=by_name)).json()) == 101
    other = {"deployments": {"name": {"any_": ["other"]}}}
    assert (await client.post("/flow_runs/filter", json=other)).json() == []
    await client.delete(f"/deployments/{deployment['id']}")
    assert await runs_of(client, deployment["id"]) == []


async def test_work_pool_linkage_and_job_variables(client: httpx.AsyncClient) -> None:
    pool = (await client.post("/work_pools/", json={"name": "p", "type": "process"})).json()
    deployment = await make_deployment(
        client, work_pool_name="p", job_variables={"env": {"X": "1"}}
    )
    assert deployment["work_pool_name"] == "p" and deployment["work_queue_name"] == "default"
    assert deployment["work_queue_id"] is not None
    run = (await client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})).json()
    assert run["work_queue_id"] == deployment["work_queue_id"]
    assert run["work_pool_id"] == pool["id"] and run["work_pool_name"] == "p"
    polled = (await client.post("/work_pools/p/get_scheduled_flow_runs", json={})).json()
    assert [r["flow_run"]["id"] for r in polled] == [run["id"]]
    flow_id = deployment["flow_id"]
    missing = await client.post(
        "/deployments/", json={"name": "x", "flow_id": flow_id, "work_pool_name": "nope"}
    )
    assert missing.status_code == 404 and "nope" in missing.text
    bad_vars = await client.post(
        "/deployments/",
        json={"name": "y", "flow_id": flow_id, "work_pool_name": "p", "job_variables": {"env": 5}},
    )
    assert bad_vars.status_code == 422 and "job_variables.env" in bad_vars.text
    assert (await client.post("/deployments/count", json={})).json() == 1


async def test_concurrency_options_are_checked_and_returned_whole(
    client: httpx.AsyncClient,
) -> None:
    # The contract's ConcurrencyOptions: a known strategy and an optional grace period.
    deployment = await make_deployment(
        client, concurrency_limit=2, concurrency_options={"collision_strategy": "CANCEL_NEW"}
    )
    assert deployment["concurrency_options"] == {
        "collision_strategy": "CANCEL_NEW", "grace_period_seconds": None
    }
    flow_id = deployment["flow_id"]
    for bad, field in (
        ({"collision_strategy": "DROP"}, "collision_strategy"),
        ({"collision_strategy": "ENQUEUE", "grace_period_seconds": 5}, "grace_period_seconds"),
        ({"grace_period_seconds": 60}, "collision_strategy"),
    ):
        body = {"name": "bad", "flow_id": flow_id, "concurrency_options": bad}
        response = await client.post("/deployments/", json=body)
        assert response.status_code == 422 and field in response.json()["detail"], response.text
    patched = await client.patch(
        f"/deployments/{deployment['id']}",
        json={"concurrency_options": {"collision_strategy": "ENQUEUE", "grace_period_seconds": 90}},
    )
    assert patched.status_code == 204, patched.text
    read = (await client.get(f"/deployments/{deployment['id']}")).json()
    expected = {"collision_strategy": "ENQUEUE", "grace_period_seconds": 90}
    assert read["concurrency_options"] == expected
