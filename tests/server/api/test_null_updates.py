"""``null`` in an update body: leaves a column that cannot be empty unchanged (the contract
reads null as the field's default), clears one that can; never a 500.

Found: ``PATCH /v2/concurrency_limits/{id}`` with ``{"active": null}`` and
``PATCH /variables/name/{name}`` with ``{"name": null}`` reached a NOT NULL column.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def _objects(client: httpx.AsyncClient) -> dict[str, str]:
    """One object of each kind with an update route, by the path that patches it."""
    flow = (await client.post("/flows/", json={"name": "f"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    task = await client.post(
        "/task_runs/", json={"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "0"}
    )
    limit = (await client.post("/v2/concurrency_limits/", json={"name": "g", "limit": 1})).json()
    await client.post("/variables/", json={"name": "v", "value": 1, "tags": ["a"]})
    artifact = (await client.post("/artifacts/", json={"key": "a", "data": 1})).json()
    await client.post("/work_pools/", json={"name": "p"})
    queue = (await client.post("/work_queues/", json={"name": "q"})).json()
    deployment = (
        await client.post(
            "/deployments/",
            json={
                "name": "d",
                "flow_id": flow["id"],
                "schedules": [{"schedule": {"interval": 60}}],
            },
        )
    ).json()
    block_type = (await client.post("/block_types/", json={"name": "bt", "slug": "bt"})).json()
    schedule = deployment["schedules"][0]["id"]
    return {
        "flow": f"/flows/{flow['id']}",
        "flow_run": f"/flow_runs/{run['id']}",
        "task_run": f"/task_runs/{task.json()['id']}",
        "limit": f"/v2/concurrency_limits/{limit['id']}",
        "variable": "/variables/name/v",
        "artifact": f"/artifacts/{artifact['id']}",
        "pool": "/work_pools/p",
        "pool_queue": "/work_pools/p/queues/default",
        "queue": f"/work_queues/{queue['id']}",
        "deployment": f"/deployments/{deployment['id']}",
        "schedule": f"/deployments/{deployment['id']}/schedules/{schedule}",
        "block_type": f"/block_types/{block_type['id']}",
    }


FIELDS: dict[str, list[str]] = {
    "flow": ["tags"],
    "flow_run": [
        "name",
        "flow_version",
        "parameters",
        "empirical_policy",
        "tags",
        "infrastructure_pid",
        "job_variables",
    ],
    "task_run": ["name"],
    "limit": ["name", "limit", "active", "active_slots", "denied_slots", "slot_decay_per_second"],
    "variable": ["name", "value", "tags"],
    "artifact": ["data", "description", "metadata_"],
    "pool": [
        "description",
        "is_paused",
        "base_job_template",
        "concurrency_limit",
        "storage_configuration",
    ],
    "pool_queue": ["name", "description", "is_paused", "concurrency_limit", "priority"],
    "queue": ["name", "description", "is_paused", "concurrency_limit", "priority"],
    "deployment": [
        "version",
        "description",
        "concurrency_limit",
        "paused",
        "schedules",
        "parameters",
        "tags",
        "labels",
        "job_variables",
        "enforce_parameter_schema",
        "work_queue_name",
        "work_pool_name",
        "path",
        "pull_steps",
        "entrypoint",
        "parameter_openapi_schema",
        "concurrency_options",
    ],
    "schedule": ["schedule", "active", "max_scheduled_runs", "parameters", "slug"],
    "block_type": ["logo_url", "documentation_url", "description", "code_example"],
}


@pytest.mark.parametrize("kind", sorted(FIELDS))
async def test_null_on_any_field_of_an_update_is_never_a_500(
    client: httpx.AsyncClient, kind: str
) -> None:
    path = (await _objects(client))[kind]
    for field in FIELDS[kind]:
        answer = await client.patch(path, json={field: None})
        assert answer.status_code < 500, (kind, field, answer.text[:300])


async def test_null_leaves_a_column_that_cannot_be_empty_unchanged(
    client: httpx.AsyncClient,
) -> None:
    paths = await _objects(client)
    limit_before = (await client.get(paths["limit"])).json()
    for field in FIELDS["limit"]:
        answer = await client.patch(paths["limit"], json={field: None})
        assert answer.status_code == 204, (field, answer.text[:300])
    limit_after = (await client.get(paths["limit"])).json()
    kept: dict[str, Any] = {k: limit_before[k] for k in ("name", "limit", "active")}
    assert {k: limit_after[k] for k in kept} == kept

    assert (await client.patch(paths["variable"], json={"name": None})).status_code == 204
    variable = (await client.get("/variables/name/v")).json()
    assert (variable["name"], variable["value"]) == ("v", 1)

    assert (await client.patch(paths["flow"], json={"tags": None})).status_code == 204
    assert (await client.get(paths["flow"])).json()["tags"] == []
