"""Routes of the contract added with the application layer: event counts, bulk state
changes, log downloads, concurrency status of pools and queues, task workers and the
default result storage."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy


def _at(day: int, hour: int = 12) -> str:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC).isoformat()


def _event(name: str, resource: str, occurred: str, label: str | None = None) -> dict[str, Any]:
    labels = {"prefect.resource.id": resource}
    if label is not None:
        labels["prefect.resource.name"] = label
    return {"id": str(uuid.uuid4()), "occurred": occurred, "event": name, "resource": labels}


WINDOW = {"occurred": {"since": _at(1, 0), "until": dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
                       .isoformat()}}  # fmt: skip


async def _count(client: httpx.AsyncClient, countable: str, **body: Any) -> list[dict[str, Any]]:
    response = await client.post(f"/events/count-by/{countable}", json={"filter": WINDOW, **body})
    assert response.status_code == 200, response.text
    counts: list[dict[str, Any]] = response.json()
    return counts


async def test_events_are_counted_by_day_time_name_and_resource(
    client: httpx.AsyncClient,
) -> None:
    events = [
        _event("test.a", "test.thing.1", _at(1), "one"),
        _event("test.a", "test.thing.1", _at(1, 13), "renamed"),
        _event("test.b", "test.thing.2", _at(3)),
        _event("test.a", "test.thing.3", "2026-10-01T00:00:00+00:00"),  # outside the window
    ]
    assert (await client.post("/events", json=events)).status_code == 204

    days = await _count(client, "day")
    assert [(c["label"][:10], c["count"]) for c in days] == [
        ("2026-11-01", 2), ("2026-11-02", 0), ("2026-11-03", 1)
    ]  # fmt: skip
    assert [c["value"] for c in days] == ["0", "1", "2"]
    assert days[0]["start_time"].startswith("2026-11-01T00:00:00")
    assert days[0]["end_time"].startswith("2026-11-01T23:59:59.999999")

    twelve_hours = await _count(client, "time", time_unit="hour", time_interval=12)
    assert [c["count"] for c in twelve_hours] == [0, 2, 0, 0, 0, 1]

    names = await _count(client, "event")
    assert [(c["value"], c["label"], c["count"]) for c in names] == [
        ("test.a", "test.a", 2), ("test.b", "test.b", 1)
    ]  # fmt: skip
    resources = await _count(client, "resource")
    # A resource is labelled with its name in its latest event.
    assert [(c["value"], c["label"], c["count"]) for c in resources] == [
        ("test.thing.1", "renamed", 2), ("test.thing.2", "test.thing.2", 1)
    ]  # fmt: skip
    assert resources[0]["start_time"].startswith("2026-11-01T12:00:00")
    assert resources[0]["end_time"].startswith("2026-11-01T13:00:00")


async def test_event_counts_refuse_too_many_buckets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/events/count-by/time",
        json={"filter": WINDOW, "time_unit": "second", "time_interval": 1},
    )
    assert response.status_code == 422 and "buckets" in response.json()["detail"]
    assert (
        await client.post("/events/count-by/colour", json={"filter": WINDOW})
    ).status_code == 422


async def _run(client: httpx.AsyncClient, flow_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def test_bulk_set_state_proposes_a_state_for_the_matching_runs(
    client: httpx.AsyncClient,
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "bulk"})).json()["id"]
    tagged = [await _run(client, flow_id, tags=["stop-me"]) for _ in range(3)]
    spared = await _run(client, flow_id, tags=["keep"])
    running = await _run(client, flow_id, tags=["stop-me"], state={"type": "RUNNING"})
    response = await client.post(
        "/flow_runs/bulk_set_state",
        json={
            "flow_runs": {"tags": {"all_": ["stop-me"]}},
            "state": {"type": "CANCELLED", "message": "bulk"},
        },
    )
    assert response.status_code == 200, response.text
    results = {r["flow_run_id"]: r for r in response.json()["results"]}
    assert set(results) == {r["id"] for r in tagged} | {running["id"]}
    for run in tagged:
        assert results[run["id"]]["status"] == "ACCEPT"
        assert results[run["id"]]["state"]["type"] == "CANCELLED"
        state = (await client.get(f"/flow_runs/{run['id']}")).json()["state"]
        assert state["type"] == "CANCELLED" and state["message"] == "bulk"
    assert results[running["id"]]["status"] == "ACCEPT"
    # The policy still decides for each run: a cancelled run cannot be made Pending again.
    again = await client.post(
        "/flow_runs/bulk_set_state",
        json={"flow_runs": {"tags": {"all_": ["stop-me"]}}, "state": {"type": "PENDING"}},
    )
    assert {r["status"] for r in again.json()["results"]} == {"ABORT"}
    assert (await client.get(f"/flow_runs/{spared['id']}")).json()["state"]["type"] == "PENDING"
    limited = await client.post(
        "/flow_runs/bulk_set_state",
        json={"state": {"type": "CANCELLED"}, "limit": 51},
    )
    assert limited.status_code == 422


async def test_a_flow_runs_logs_download_as_csv(client: httpx.AsyncClient) -> None:
    flow_id = (await client.post("/flows/", json={"name": "logs"})).json()["id"]
    run = await _run(client, flow_id, name="my run")
    other = await _run(client, flow_id)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    logs = [
        {"name": "x", "level": 20, "message": f"line, {i}", "flow_run_id": run["id"],
         "timestamp": (base + dt.timedelta(seconds=i)).isoformat()}
        for i in (2, 0, 1)
    ] + [{"name": "x", "level": 40, "message": "not mine", "flow_run_id": other["id"],
          "timestamp": base.isoformat()}]  # fmt: skip
    assert (await client.post("/logs/", json=logs)).status_code == 201
    response = await client.get(f"/flow_runs/{run['id']}/logs/download")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "my%20run-logs.csv" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["timestamp", "level", "flow_run_id", "task_run_id", "message"]
    assert [r[4] for r in rows[1:]] == ["line, 0", "line, 1", "line, 2"]
    assert {r[2] for r in rows[1:]} == {run["id"]}
    assert (await client.get(f"/flow_runs/{uuid.uuid4()}/logs/download")).status_code == 404


async def test_a_download_reads_every_page(client: httpx.AsyncClient, monkeypatch: Any) -> None:
    from flowyard.server.api import logs as logs_api

    monkeypatch.setattr(logs_api, "DOWNLOAD_PAGE", 2)
    flow_id = (await client.post("/flows/", json={"name": "paged"})).json()["id"]
    run = await _run(client, flow_id)
    moment = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).isoformat()
    # Five logs at the same instant: the pages follow (timestamp, id), none lost or repeated.
    batch = [{"name": "x", "level": 20, "message": str(i), "flow_run_id": run["id"],
              "timestamp": moment} for i in range(5)]  # fmt: skip
    await client.post("/logs/", json=batch)
    rows = list(csv.reader(io.StringIO((await client.get(
        f"/flow_runs/{run['id']}/logs/download")).text)))  # fmt: skip
    assert sorted(r[4] for r in rows[1:]) == ["0", "1", "2", "3", "4"]


async def test_concurrency_status_of_a_pool_and_a_queue(client: httpx.AsyncClient) -> None:
    pool = await client.post(
        "/work_pools/", json={"name": "busy", "type": "process", "concurrency_limit": 5}
    )
    assert pool.status_code == 201, pool.text
    queue = await client.post(
        "/work_pools/busy/queues", json={"name": "second", "concurrency_limit": 2}
    )
    assert queue.status_code == 201, queue.text
    flow_id = (await client.post("/flows/", json={"name": "slots"})).json()["id"]
    running = [
        await _run(client, flow_id, work_pool_name="busy", work_queue_name="second",
                   state={"type": "RUNNING"})
        for _ in range(3)
    ]  # fmt: skip
    await _run(client, flow_id, work_pool_name="busy", work_queue_name="second",
               state={"type": "SCHEDULED"})  # fmt: skip
    await _run(client, flow_id, work_pool_name="busy", state={"type": "PENDING"})

    status = await client.post("/work_pools/busy/concurrency_status", json={"flow_run_limit": 2})
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["active_slots"] == 4 and body["concurrency_limit"] == 5
    assert body["count"] == 2 and body["page"] == 1 and body["pages"] == 1
    queues = {q["queue_name"]: q for q in body["queues"]}
    assert queues["second"]["active_slots"] == 3 and queues["second"]["concurrency_limit"] == 2
    assert queues["second"]["flow_run_count"] == 3 and len(queues["second"]["flow_runs"]) == 2
    assert queues["default"]["active_slots"] == 1
    summary = queues["second"]["flow_runs"][0]
    assert summary["state_type"] == "RUNNING" and summary["time_in_current_state"] >= 0

    paged = await client.post(
        f"/work_queues/{queue.json()['id']}/concurrency_status", json={"limit": 2, "page": 2}
    )
    assert paged.status_code == 200, paged.text
    page = paged.json()
    assert page["active_slots"] == 3 and page["count"] == 3 and page["pages"] == 2
    assert len(page["flow_runs"]) == 1
    assert {r["id"] for r in page["flow_runs"]} <= {r["id"] for r in running}
    missing = await client.post("/work_pools/nope/concurrency_status", json={})
    assert missing.status_code == 404
    gone = await client.post(f"/work_queues/{uuid.uuid4()}/concurrency_status", json={})
    assert gone.status_code == 404


async def test_no_task_worker_is_connected(client: httpx.AsyncClient) -> None:
    assert (await client.post("/task_workers/filter", json={})).json() == []
    filtered = await client.post(
        "/task_workers/filter", json={"task_worker_filter": {"task_keys": ["a"]}}
    )
    assert filtered.status_code == 200 and filtered.json() == []


async def _block(client: httpx.AsyncClient, slug: str, name: str, data: Any) -> str:
    block_type = (await client.get(f"/block_types/slug/{slug}")).json()
    schemas = await client.post(
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    created = await client.post(
        "/block_documents/",
        json={"name": name, "data": data, "block_type_id": block_type["id"],
              "block_schema_id": schemas.json()[0]["id"]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_the_default_result_storage_is_set_read_and_cleared(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    assert (await client.get("/admin/storage")).json() == {"default_result_storage_block_id": None}
    storage = await _block(client, "local-file-system", "results", {"basepath": "/tmp/r"})
    secret = await _block(client, "secret", "not-storage", {"value": "s"})
    refused = await client.put("/admin/storage", json={"default_result_storage_block_id": secret})
    assert refused.status_code == 422
    unknown = str(uuid.uuid4())
    missing = await client.put("/admin/storage", json={"default_result_storage_block_id": unknown})
    assert missing.status_code == 404
    saved = await client.put("/admin/storage", json={"default_result_storage_block_id": storage})
    assert saved.status_code == 200 and saved.json()["default_result_storage_block_id"] == storage
    assert (await client.get("/admin/storage")).json()["default_result_storage_block_id"] == storage

    # Another workspace has its own setting.
    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    theirs = await client.get(f"{prefix}/admin/storage")
    assert theirs.json() == {"default_result_storage_block_id": None}
    cross = await client.put(
        f"{prefix}/admin/storage", json={"default_result_storage_block_id": storage}
    )
    assert cross.status_code == 404

    assert (await client.delete("/admin/storage")).status_code == 204
    assert (await client.get("/admin/storage")).json() == {"default_result_storage_block_id": None}


async def test_event_counts_include_task_run_state_events(client: httpx.AsyncClient) -> None:
    """Task-run state events are kept as their state rows, not in the event table: the
    counts must read them there, as the feed does."""
    flow_id = (await client.post("/flows/", json={"name": "counted"})).json()["id"]
    flow_run = await _run(client, flow_id, state={"type": "RUNNING"})
    task_run = (
        await client.post(
            "/task_runs/",
            json={"flow_run_id": flow_run["id"], "task_key": "t", "dynamic_key": "0",
                  "name": "counted-task", "state": {"type": "PENDING"}},
        )
    ).json()  # fmt: skip
    response = await client.post(
        f"/task_runs/{task_run['id']}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert response.status_code == 201, response.text
    now = dt.datetime.now(dt.UTC)
    window = {"occurred": {"since": (now - dt.timedelta(hours=1)).isoformat(),
                           "until": (now + dt.timedelta(minutes=1)).isoformat()}}  # fmt: skip
    task_events = {"event": {"prefix": ["prefect.task-run."]}, **window}

    names = await _count(client, "event", filter=task_events)
    assert [(c["value"], c["count"]) for c in names] == [
        ("prefect.task-run.Pending", 1), ("prefect.task-run.Running", 1)
    ]  # fmt: skip
    resources = await _count(client, "resource", filter=task_events)
    assert [(c["value"], c["label"], c["count"]) for c in resources] == [
        (f"prefect.task-run.{task_run['id']}", "counted-task", 2)
    ]
    minutes = await _count(client, "time", filter=task_events, time_unit="minute",
                           time_interval=10)  # fmt: skip
    assert sum(c["count"] for c in minutes) == 2
    # Every event of the window, stored and derived, is counted once.
    feed = (await client.post("/events/filter", json={"filter": window})).json()
    everything = await _count(client, "event", filter=window)
    assert sum(c["count"] for c in everything) == feed["total"]


async def test_task_run_state_events_answer_text_and_label_filters(
    client: httpx.AsyncClient,
) -> None:
    """The derived task-run events match a text search and the resource labels they carry,
    like stored events do: a search for a task's name finds its state events."""
    flow_id = (await client.post("/flows/", json={"name": "searched"})).json()["id"]
    flow_run = await _run(client, flow_id, state={"type": "RUNNING"})
    ids = {}
    for name in ("load-orders", "send-mail"):
        task_run = await client.post(
            "/task_runs/",
            json={"flow_run_id": flow_run["id"], "task_key": name, "dynamic_key": "0",
                  "name": name, "state": {"type": "RUNNING"}},
        )  # fmt: skip
        ids[name] = task_run.json()["id"]
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()

    async def found(**flt: Any) -> set[str]:
        body = {"filter": {"occurred": {"since": since}, "event": {"prefix":
                ["prefect.task-run."]}, **flt}}  # fmt: skip
        response = await client.post("/events/filter", json=body)
        assert response.status_code == 200, response.text
        return {e["resource"]["prefect.resource.name"] for e in response.json()["events"]}

    assert await found(text={"query": "orders"}) == {"load-orders"}
    assert await found(text={"query": "Running"}) == {"load-orders", "send-mail"}
    by_name = {"resource": {"labels": {"prefect.resource.name": "send-*"}}}
    assert await found(**by_name) == {"send-mail"}
    by_state = {"resource": {"labels": {"prefect.state-type": ["RUNNING"]}}}
    assert await found(**by_state) == {"load-orders", "send-mail"}
    by_id = {"resource": {"labels": {"prefect.resource.id":
             f"prefect.task-run.{ids['load-orders']}"}}}  # fmt: skip
    assert await found(**by_id) == {"load-orders"}
    unknown = {"resource": {"labels": {"prefect.state-message": "x"}}}
    assert await found(**unknown) == set()
