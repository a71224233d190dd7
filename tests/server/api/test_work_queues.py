"""Work queues by id: the runs a queue holds (``POST /work_queues/{id}/get_runs``, what the
official client's ``get_runs_in_work_queue`` calls) and the deprecated
``GET /deployments/{id}/work_queue_check``, in the contract's shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def _deployment(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    flow = await _ok(await client.post("/flows/", json={"name": "etl"}))
    body = {"name": fields.pop("name", "d"), "flow_id": flow["id"], **fields}
    deployment: dict[str, Any] = await _ok(await client.post("/deployments/", json=body))
    return deployment


def _later(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def test_get_runs_answers_the_due_runs_and_counts_as_a_poll(
    client: httpx.AsyncClient,
) -> None:
    await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    queue = await _ok(await client.post("/work_pools/p/queues", json={"name": "q"}))
    deployment = await _deployment(client, work_pool_name="p", work_queue_name="q")
    url = f"/deployments/{deployment['id']}/create_flow_run"
    due = [(await _ok(await client.post(url, json={})))["id"] for _ in range(3)]
    ahead = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": _later(3600)}}}
    await _ok(await client.post(url, json=ahead))

    runs_url = f"/work_queues/{queue['id']}/get_runs"
    # The UI's look does not count as a poll.
    now = {"scheduled_before": _later(0)}
    seen = await _ok(await client.post(runs_url, json=now, headers={"x-prefect-ui": "true"}))
    assert sorted(run["id"] for run in seen) == sorted(due)
    assert (await _ok(await client.get(f"/work_queues/{queue['id']}")))["last_polled"] is None
    # A worker's does; the limit and the window hold.
    limited = await _ok(await client.post(runs_url, json={**now, "limit": 2}))
    assert len(limited) == 2 and {run["id"] for run in limited} <= set(due)
    assert {"id", "state", "flow_id", "deployment_id", "parameters"} <= set(limited[0])
    polled = await _ok(await client.get(f"/work_queues/{queue['id']}"))
    assert polled["last_polled"] is not None and polled["status"] == "READY"
    # Without a bound, as on the official server, every Scheduled run of the queue.
    assert len(await _ok(await client.post(runs_url, json={}))) == 4
    # A paused queue holds nothing to take; an unknown one is a 404.
    await _ok(await client.patch(f"/work_queues/{queue['id']}", json={"is_paused": True}))
    assert await _ok(await client.post(runs_url, json={})) == []
    missing = await client.post(f"/work_queues/{deployment['id']}/get_runs", json={})
    assert missing.status_code == 404


async def test_get_runs_keeps_the_queue_concurrency_limit(client: httpx.AsyncClient) -> None:
    await _ok(await client.post("/work_pools/", json={"name": "p", "type": "process"}))
    queue = await _ok(
        await client.post("/work_pools/p/queues", json={"name": "q", "concurrency_limit": 1})
    )
    deployment = await _deployment(client, work_pool_name="p", work_queue_name="q")
    url = f"/deployments/{deployment['id']}/create_flow_run"
    await _ok(await client.post(url, json={"state": {"type": "RUNNING"}}))
    await _ok(await client.post(url, json={}))
    runs = await _ok(await client.post(f"/work_queues/{queue['id']}/get_runs", json={}))
    assert runs == []  # its one slot is taken by the Running run


async def test_work_queue_check_lists_the_legacy_queues_that_take_the_deployment(
    client: httpx.AsyncClient,
) -> None:
    deployment = await _deployment(client, tags=["a", "b"])
    matching = {"tags": ["a"], "deployment_ids": None}
    by_id = {"tags": [], "deployment_ids": [deployment["id"]]}
    other_tags = {"tags": ["c"], "deployment_ids": None}
    other_deployment = {"tags": None, "deployment_ids": ["4b1d0c7e-0000-4000-8000-000000000000"]}
    names = {}
    for name, queue_filter in [
        ("matching", matching), ("by-id", by_id), ("other-tags", other_tags),
        ("other-deployment", other_deployment), ("no-filter", None),
    ]:  # fmt: skip
        queue = await _ok(
            await client.post("/work_queues/", json={"name": name, "filter": queue_filter})
        )
        names[queue["id"]] = name
    check = await client.get(f"/deployments/{deployment['id']}/work_queue_check")
    assert check.status_code == 200, check.text
    assert sorted(names[queue["id"]] for queue in check.json()) == ["by-id", "matching"]
    assert all(queue["work_pool_name"] == "default-agent-pool" for queue in check.json())
    missing = await client.get(f"/deployments/{next(iter(names))}/work_queue_check")
    assert missing.status_code == 404
