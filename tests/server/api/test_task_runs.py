import asyncio
import uuid
from typing import Any

import httpx
import pytest
from race_helpers import Contention
from run_helpers import at, make_flow, make_run

from flowyard.server.queries import task_runs as task_run_queries


async def make_task_run(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"task_key": "transform", "dynamic_key": "0", **fields}
    response = await client.post("/task_runs/", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def task_names(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    response = await client.post("/task_runs/filter", json={"sort": "NAME_ASC", **body})
    assert response.status_code == 200, response.text
    return [run["name"] for run in response.json()]


@pytest.fixture
async def flow_run(client: httpx.AsyncClient) -> dict[str, Any]:
    run = await make_run(client, await make_flow(client))
    await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    return run


async def test_create_wrapper_task_run_as_the_official_client_does(
    client: httpx.AsyncClient, flow_run: dict[str, Any]
) -> None:
    body = {
        "state": {"type": "PENDING", "name": "Pending", "message": None, "data": None,
                  "state_details": {"flow_run_id": None, "task_run_id": None,
                                    "untrackable_result": False, "pause_reschedule": False}},
        "name": "child-0", "flow_run_id": flow_run["id"], "task_key": "child-5c7e9470",
        "dynamic_key": "0", "cache_key": None, "cache_expiration": None, "task_version": "v1",
        "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": 0,
                             "retry_delay": 0, "retry_jitter_factor": None},
        "tags": [], "labels": {}, "task_inputs": {"n": []},
    }
    response = await client.post("/task_runs/", json=body)
    assert response.status_code == 201
    run = response.json()
    assert run["labels"] == {
        "prefect.flow.id": flow_run["flow_id"], "prefect.flow-run.id": flow_run["id"]
    }
    assert run["state"]["type"] == "PENDING" and run["state_id"] == run["state"]["id"]
    assert run["state"]["state_details"]["task_run_id"] == run["id"]
    assert run["task_inputs"] == {"n": []} and run["expected_start_time"] is not None

    again = await client.post("/task_runs/", json=body)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    read = await client.get(f"/task_runs/{run['id']}")
    assert read.status_code == 200 and read.json()["name"] == "child-0"


async def test_client_chosen_id_is_kept(
    client: httpx.AsyncClient, flow_run: dict[str, Any]
) -> None:
    chosen = str(uuid.uuid4())
    run = await make_task_run(client, id=chosen, flow_run_id=flow_run["id"],
                              task_inputs={"xs": [{"input_type": "task_run", "id": chosen}]})
    assert run["id"] == chosen
    [upstream] = run["task_inputs"]["xs"]
    assert (upstream["input_type"], upstream["id"]) == ("task_run", chosen)
    repeat = await client.post(
        "/task_runs/", json={"id": chosen, "task_key": "other", "dynamic_key": "9"}
    )
    assert repeat.status_code == 200 and repeat.json()["id"] == chosen


async def test_creates_of_one_task_run_sent_at_once_make_one(
    client: httpx.AsyncClient, flow_run: dict[str, Any], contention: Contention
) -> None:
    body = {"flow_run_id": flow_run["id"], "task_key": "t", "dynamic_key": "0"}
    gate = contention.hold(task_run_queries, "read_existing_task_run", 6)
    responses = await asyncio.gather(*(client.post("/task_runs/", json=body) for _ in range(6)))
    assert gate.met is contention.racing
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_background_task_runs_are_never_merged(client: httpx.AsyncClient) -> None:
    first = await make_task_run(client, state={"type": "SCHEDULED"})
    second = await make_task_run(client)
    assert first["id"] != second["id"]
    assert first["flow_run_id"] is None and first["labels"] == {}
    assert first["state_type"] == "SCHEDULED"


async def test_create_refuses_bad_input_and_stores_nothing(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        "/task_runs/",
        json={"flow_run_id": str(uuid.uuid4()), "task_key": "t", "dynamic_key": "0"},
    )
    assert unknown.status_code == 404 and "flow_run_id" in unknown.json()["detail"]
    no_key = await client.post("/task_runs/", json={"dynamic_key": "0"})
    assert no_key.status_code == 422 and "task_key" in no_key.json()["detail"]
    bad_input = await client.post(
        "/task_runs/",
        json={"task_key": "t", "dynamic_key": "0", "task_inputs": {"x": [{"input_type": "?"}]}},
    )
    assert bad_input.status_code == 422 and "task_inputs" in bad_input.json()["detail"]
    assert (await client.post("/task_runs/count")).json() == 0


async def test_read_update_delete(client: httpx.AsyncClient, flow_run: dict[str, Any]) -> None:
    run = await make_task_run(client, flow_run_id=flow_run["id"])
    renamed = await client.patch(f"/task_runs/{run['id']}", json={"name": "renamed"})
    assert renamed.status_code == 204
    assert (await client.get(f"/task_runs/{run['id']}")).json()["name"] == "renamed"
    log = {"name": "x", "level": 20, "message": "m", "timestamp": at(0),
           "flow_run_id": flow_run["id"], "task_run_id": run["id"]}
    await client.post("/logs/", json=[log])
    assert (await client.delete(f"/task_runs/{run['id']}")).status_code == 204
    assert (await client.get(f"/task_runs/{run['id']}")).status_code == 404
    assert (await client.post("/logs/filter", json={})).json() == []
    missing = str(uuid.uuid4())
    assert (await client.get(f"/task_runs/{missing}")).status_code == 404
    assert (await client.patch(f"/task_runs/{missing}", json={"name": "x"})).status_code == 404
    assert (await client.delete(f"/task_runs/{missing}")).status_code == 404
    extra = await client.patch(f"/task_runs/{run['id']}", json={"tags": ["x"]})
    assert extra.status_code == 422 and "tags" in extra.json()["detail"]


async def test_set_state(client: httpx.AsyncClient, flow_run: dict[str, Any]) -> None:
    run = await make_task_run(client, flow_run_id=flow_run["id"])
    url = f"/task_runs/{run['id']}/set_state"
    running = await client.post(url, json={"state": {"type": "RUNNING"}})
    assert running.status_code == 201 and running.json()["status"] == "ACCEPT"
    read = (await client.get(f"/task_runs/{run['id']}")).json()
    assert read["state_type"] == "RUNNING" and read["run_count"] == 1
    unknown = await client.post(
        f"/task_runs/{uuid.uuid4()}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert unknown.status_code == 404
    bad = await client.post(url, json={"state": {"type": "RUNNING"}, "forced": True})
    assert bad.status_code == 422 and "forced" in bad.json()["detail"]


async def test_task_run_filters(client: httpx.AsyncClient) -> None:
    etl, report = await make_flow(client, "etl"), await make_flow(client, "report")
    etl_run = await make_run(client, etl, name="etl-run", tags=["nightly"])
    report_run = await make_run(client, report, name="report-run")
    a = await make_task_run(client, flow_run_id=etl_run["id"], name="a", task_key="a",
                            tags=["x"])
    await make_task_run(client, flow_run_id=etl_run["id"], name="b", task_key="b",
                        tags=["x", "y"])
    await make_task_run(client, flow_run_id=report_run["id"], name="c", task_key="c")
    await make_task_run(client, name="orphan", task_key="d")
    # The subflow's state is mirrored onto its wrapper task run, so it comes first.
    await make_run(client, report, name="sub", parent_task_run_id=a["id"])
    await client.post(
        f"/task_runs/{a['id']}/set_state", json={"state": {"type": "RUNNING"}, "force": True}
    )

    assert await task_names(client, {}) == ["a", "b", "c", "orphan"]
    assert await task_names(client, {"flows": {"name": {"any_": ["etl"]}}}) == ["a", "b"]
    assert await task_names(client, {"flow_runs": {"tags": {"all_": ["nightly"]}}}) == ["a", "b"]
    assert await task_names(
        client, {"flow_runs": {"id": {"any_": [report_run["id"]]}}}
    ) == ["c"]
    assert await task_names(client, {"task_runs": {"flow_run_id": {"is_null_": True}}}) == [
        "orphan"
    ]
    assert await task_names(
        client, {"task_runs": {"flow_run_id": {"any_": [etl_run["id"]]}}}
    ) == ["a", "b"]
    assert await task_names(client, {"task_runs": {"tags": {"all_": ["x", "y"]}}}) == ["b"]
    assert await task_names(
        client, {"task_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}
    ) == ["a"]
    assert await task_names(client, {"task_runs": {"subflow_runs": {"exists_": True}}}) == ["a"]
    assert await task_names(client, {"task_runs": {"subflow_runs": {"exists_": False}}}) == [
        "b", "c", "orphan"
    ]
    assert await task_names(client, {"task_runs": {"name": {"like_": "RPH"}}}) == ["orphan"]
    assert await task_names(client, {"sort": "NAME_DESC", "limit": 1}) == ["orphan"]

    count = await client.post("/task_runs/count", json={"flows": {"name": {"any_": ["etl"]}}})
    assert count.json() == 2
    page = (await client.post("/task_runs/paginate", json={"limit": 3, "page": 2})).json()
    assert (page["count"], page["pages"], page["page"], len(page["results"])) == (4, 2, 2, 1)
    too_many = await client.post("/task_runs/filter", json={"limit": 1000})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]


async def test_task_run_history(client: httpx.AsyncClient, flow_run: dict[str, Any]) -> None:
    for key in ("a", "b"):
        await make_task_run(client, flow_run_id=flow_run["id"], task_key=key)
    reads = (await client.post("/task_runs/filter", json={})).json()
    start = min(run["expected_start_time"] for run in reads)
    response = await client.post(
        "/task_runs/history",
        json={"history_start": start, "history_end": start, "history_interval_seconds": 60},
    )
    assert response.status_code == 200, response.text
    [interval] = response.json()
    assert interval["states"][0]["state_type"] == "PENDING"
    assert interval["states"][0]["count_runs"] == 2
    bad = await client.post(
        "/task_runs/history",
        json={"history_start": start, "history_end": start, "history_interval_seconds": -5},
    )
    assert bad.status_code == 422 and "history_interval_seconds" in bad.json()["detail"]
