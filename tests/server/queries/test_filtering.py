"""Filter operators as compiled to SQL (``queries/filtering.py``), through the API.

``not_any_`` means "not one of these", and a field that is NULL is not one of them: in SQL
``x NOT IN (...)`` is NULL (not true) for a NULL ``x``, so the operator must add
``OR x IS NULL``. Each test below filters a nullable field with ``not_any_`` and expects
the objects whose field is NULL among the answers. (Planted bug "``not_any_`` without
NULLs": every one of them fails.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json() if response.content else None


async def _run_names(client: httpx.AsyncClient, flow_runs: dict[str, Any]) -> set[str]:
    runs = await _ok(await client.post("/flow_runs/filter", json={"flow_runs": flow_runs}))
    return {run["name"] for run in runs}


async def test_not_any_on_flow_run_fields_keeps_runs_where_the_field_is_null(
    client: httpx.AsyncClient,
) -> None:
    flow = (await _ok(await client.post("/flows/", json={"name": "f"})))["id"]
    await _ok(await client.post("/work_pools/", json={"name": "pool", "type": "process"}))
    deployment = await _ok(
        await client.post(
            "/deployments/",
            json={"name": "d", "flow_id": flow, "work_pool_name": "pool"},
        )
    )
    with_all = await _ok(
        await client.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"name": "with-all", "idempotency_key": "k1"},
        )
    )
    task = await _ok(
        await client.post(
            "/task_runs/",
            json={"flow_run_id": with_all["id"], "task_key": "t", "dynamic_key": "0"},
        )
    )
    await _ok(
        await client.post(
            "/flow_runs/",
            json={"flow_id": flow, "name": "subflow", "parent_task_run_id": task["id"]},
        )
    )
    await _ok(await client.patch(f"/flow_runs/{with_all['id']}", json={"flow_version": "1"}))
    await _ok(await client.post("/flow_runs/", json={"flow_id": flow, "name": "bare"}))
    queue = with_all["work_queue_name"]
    assert queue is not None

    cases = {
        "deployment_id": ({"not_any_": [deployment["id"]]}, {"bare", "subflow"}),
        "work_queue_name": ({"not_any_": [queue]}, {"bare", "subflow"}),
        "flow_version": ({"not_any_": ["1"]}, {"bare", "subflow"}),
        "idempotency_key": ({"not_any_": ["k1"]}, {"bare", "subflow"}),
        "parent_task_run_id": ({"not_any_": [task["id"]]}, {"bare", "with-all"}),
    }
    for field, (flt, expected) in cases.items():
        assert await _run_names(client, {field: flt}) == expected, field
        # And any_ is the complement.
        any_ = {"any_": flt["not_any_"]}
        assert await _run_names(client, {field: any_}) == {"bare", "subflow", "with-all"} - (
            expected
        ), field


async def test_not_any_on_task_run_flow_run_id_keeps_runs_without_a_flow_run(
    client: httpx.AsyncClient,
) -> None:
    flow = (await _ok(await client.post("/flows/", json={"name": "f"})))["id"]
    run = await _ok(await client.post("/flow_runs/", json={"flow_id": flow}))
    body = {"task_key": "t", "dynamic_key": "0"}
    await _ok(await client.post("/task_runs/", json={**body, "flow_run_id": run["id"]}))
    alone = await _ok(await client.post("/task_runs/", json={**body, "name": "alone"}))
    found = await _ok(
        await client.post(
            "/task_runs/filter", json={"task_runs": {"flow_run_id": {"not_any_": [run["id"]]}}}
        )
    )
    assert [t["id"] for t in found] == [alone["id"]]


async def test_not_any_on_artifact_fields_keeps_artifacts_where_the_field_is_null(
    client: httpx.AsyncClient,
) -> None:
    keyed = await _ok(
        await client.post("/artifacts/", json={"key": "k", "type": "markdown", "data": 1})
    )
    bare = await _ok(await client.post("/artifacts/", json={"data": 2}))
    for field, value in (("key", "k"), ("type", "markdown")):
        body = {"artifacts": {field: {"not_any_": [value]}}}
        found = await _ok(await client.post("/artifacts/filter", json=body))
        assert [a["id"] for a in found] == [bare["id"]], field
        assert await _ok(await client.post("/artifacts/count", json=body)) == 1
    assert keyed["id"] != bare["id"]


async def test_not_any_on_log_task_run_id_keeps_flow_level_logs(
    client: httpx.AsyncClient,
) -> None:
    task_run_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC).isoformat()
    log = {"name": "l", "level": 20, "timestamp": now}
    await _ok(
        await client.post(
            "/logs/",
            json=[
                {**log, "message": "from the task", "task_run_id": task_run_id},
                {**log, "message": "from the flow"},
            ],
        )
    )
    body = {"logs": {"task_run_id": {"not_any_": [task_run_id]}}}
    found = await _ok(await client.post("/logs/filter", json=body))
    assert [entry["message"] for entry in found] == ["from the flow"]
