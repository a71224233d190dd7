"""/ui/*: the aggregate routes Prefect's UI calls."""

import datetime as dt
from typing import Any

import httpx
from run_helpers import make_flow, make_run

NOW = dt.datetime.now(dt.UTC)


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _task_run(client: httpx.AsyncClient, flow_run_id: str, key: str) -> str:
    body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key}
    response = await client.post("/task_runs/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _state(client: httpx.AsyncClient, kind: str, run_id: str, state: str) -> None:
    response = await client.post(f"/{kind}/{run_id}/set_state", json={"state": {"type": state}})
    assert response.status_code == 201, response.text


async def test_counts_per_flow_run_and_per_flow(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    other_flow = await make_flow(client, "other")
    busy, idle = await make_run(client, flow_id), await make_run(client, flow_id)
    for key in ("a", "b", "c"):
        await _task_run(client, busy["id"], key)
    counts = await _post(client, "/ui/flow_runs/count-task-runs",
                         {"flow_run_ids": [busy["id"], idle["id"]]})  # fmt: skip
    assert counts == {busy["id"]: 3, idle["id"]: 0}

    deployment = {"name": "d1", "flow_id": flow_id}
    assert (await client.post("/deployments/", json=deployment)).status_code in (200, 201)
    counts = await _post(client, "/ui/flows/count-deployments", {"flow_ids": [flow_id, other_flow]})
    assert counts == {flow_id: 1, other_flow: 0}


async def test_next_runs_pick_the_soonest_scheduled_run(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    empty_flow = await make_flow(client, "empty")
    for name, hours in (("later", 5), ("soon", 1), ("past", -1)):
        when = (NOW + dt.timedelta(hours=hours)).isoformat()
        await make_run(client, flow_id, name=name, state={
            "type": "SCHEDULED", "state_details": {"scheduled_time": when}})  # fmt: skip
    found = await _post(client, "/ui/flows/next-runs", {"flow_ids": [flow_id, empty_flow]})
    assert found[empty_flow] is None
    assert found[flow_id]["name"] == "soon" and found[flow_id]["state_type"] == "SCHEDULED"


async def test_history_points_and_task_run_counts(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    await _state(client, "flow_runs", run["id"], "RUNNING")
    done, failed = (
        await _task_run(client, run["id"], "ok"),
        await _task_run(client, run["id"], "bad"),
    )
    for task_run_id, final in ((done, "COMPLETED"), (failed, "FAILED")):
        await _state(client, "task_runs", task_run_id, "RUNNING")
        await _state(client, "task_runs", task_run_id, final)
    points = await _post(client, "/ui/flow_runs/history", {})
    assert [(p["id"], p["state_type"]) for p in points] == [(run["id"], "RUNNING")]
    assert points[0]["duration"] >= 0 and points[0]["timestamp"] is not None

    counts = await _post(client, "/ui/task_runs/count", {})
    assert counts["COMPLETED"] == 1 and counts["FAILED"] == 1 and counts["RUNNING"] == 0
    since = (NOW - dt.timedelta(hours=1)).isoformat()
    buckets = await _post(client, "/ui/task_runs/dashboard/counts",
                          {"task_runs": {"start_time": {"after_": since}}})  # fmt: skip
    assert len(buckets) == 20
    assert sum(b["completed"] for b in buckets) == 1 and sum(b["failed"] for b in buckets) == 1
    assert buckets[-1] == {"completed": 1, "failed": 1}  # both ended just now
    refused = await client.post("/ui/task_runs/dashboard/counts", json={})
    assert refused.status_code == 422 and "start_time.after_" in refused.json()["detail"]

    one = (await client.get(f"/ui/task_runs/{done}")).json()
    assert one["id"] == done and one["flow_run_name"] == run["name"]


async def test_schema_validation_groups_errors_by_property(client: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    ok = await _post(client, "/ui/schemas/validate", {"json_schema": schema, "values": {"n": 3}})
    assert ok == {"errors": [], "valid": True}
    bad = await _post(client, "/ui/schemas/validate", {"schema": schema, "values": {"n": "x"}})
    assert bad["valid"] is False
    assert [e["property"] for e in bad["errors"]] == ["n"]
