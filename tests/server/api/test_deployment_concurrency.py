"""Deployment concurrency limits: a run takes a slot of its deployment's limit when it
becomes Pending, keeps it through Running, and gives it back when it ends; a run that finds
the limit full waits (AwaitingConcurrencySlot) or is cancelled (CANCEL_NEW)."""

from __future__ import annotations

from typing import Any

import httpx


async def _deployment(
    client: httpx.AsyncClient, name: str = "limited", **fields: Any
) -> dict[str, Any]:
    flow_id = (await client.post("/flows/", json={"name": "limited"})).json()["id"]
    response = await client.post(
        "/deployments/", json={"name": name, "flow_id": flow_id, **fields}
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment


async def _run(client: httpx.AsyncClient, deployment_id: str) -> str:
    response = await client.post(f"/deployments/{deployment_id}/create_flow_run", json={})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def _propose(client: httpx.AsyncClient, run_id: str, state: str) -> dict[str, Any]:
    response = await client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": state}}
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def _slots(client: httpx.AsyncClient, deployment_id: str) -> int:
    response = await client.get(f"/v2/concurrency_limits/deployment:{deployment_id}")
    assert response.status_code == 200, response.text
    active: int = response.json()["active_slots"]
    return active


async def test_the_limit_follows_the_deployment(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client, concurrency_limit=2)
    limit = deployment["global_concurrency_limit"]
    assert (limit["name"], limit["limit"]) == (f"deployment:{deployment['id']}", 2)
    path = f"/deployments/{deployment['id']}"
    assert (await client.patch(path, json={"concurrency_limit": 3})).status_code == 204
    assert (await client.get(path)).json()["global_concurrency_limit"]["limit"] == 3
    assert (await client.patch(path, json={"concurrency_limit": None})).status_code == 204
    assert (await client.get(path)).json()["global_concurrency_limit"] is None
    limit_path = f"/v2/concurrency_limits/deployment:{deployment['id']}"
    assert (await client.get(limit_path)).status_code == 404

    again = await _deployment(client, "another", concurrency_limit=1)
    assert (await client.delete(f"/deployments/{again['id']}")).status_code == 204
    gone = await client.get(f"/v2/concurrency_limits/deployment:{again['id']}")
    assert gone.status_code == 404


async def test_a_full_limit_sends_the_next_run_back_to_wait(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client, concurrency_limit=1)
    first, second = await _run(client, deployment["id"]), await _run(client, deployment["id"])

    taken = await _propose(client, first, "PENDING")
    assert taken["status"] == "ACCEPT"
    lease_id = taken["state"]["state_details"]["deployment_concurrency_lease_id"]
    assert lease_id is not None
    assert await _slots(client, deployment["id"]) == 1

    refused = await _propose(client, second, "PENDING")
    assert refused["status"] == "REJECT"
    assert (refused["state"]["type"], refused["state"]["name"]) == (
        "SCHEDULED", "AwaitingConcurrencySlot"
    )  # fmt: skip
    assert refused["state"]["state_details"]["scheduled_time"] > refused["state"]["timestamp"]

    running = await _propose(client, first, "RUNNING")
    assert running["state"]["state_details"]["deployment_concurrency_lease_id"] == lease_id
    assert await _slots(client, deployment["id"]) == 1
    assert (await _propose(client, first, "COMPLETED"))["status"] == "ACCEPT"
    assert await _slots(client, deployment["id"]) == 0

    assert (await _propose(client, second, "PENDING"))["status"] == "ACCEPT"
    assert await _slots(client, deployment["id"]) == 1


async def test_cancel_new_cancels_the_run_that_finds_the_limit_full(
    client: httpx.AsyncClient,
) -> None:
    deployment = await _deployment(
        client, concurrency_limit=1, concurrency_options={"collision_strategy": "CANCEL_NEW"}
    )
    first, second = await _run(client, deployment["id"]), await _run(client, deployment["id"])
    assert (await _propose(client, first, "PENDING"))["status"] == "ACCEPT"
    refused = await _propose(client, second, "PENDING")
    assert (refused["status"], refused["state"]["type"]) == ("REJECT", "CANCELLED")
    assert await _slots(client, deployment["id"]) == 1


async def test_a_crashed_or_cancelled_run_gives_its_slot_back(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client, concurrency_limit=1)
    run = await _run(client, deployment["id"])
    await _propose(client, run, "PENDING")
    await _propose(client, run, "RUNNING")
    assert (await _propose(client, run, "CRASHED"))["status"] == "ACCEPT"
    assert await _slots(client, deployment["id"]) == 0

    other = await _run(client, deployment["id"])
    await _propose(client, other, "PENDING")
    cancelled = await client.post(
        f"/flow_runs/{other}/set_state",
        json={"state": {"type": "CANCELLED"}, "force": True},
    )
    assert cancelled.status_code in (200, 201)
    assert await _slots(client, deployment["id"]) == 0


async def test_runs_without_a_limit_take_nothing(client: httpx.AsyncClient) -> None:
    deployment = await _deployment(client)
    run = await _run(client, deployment["id"])
    taken = await _propose(client, run, "PENDING")
    assert taken["status"] == "ACCEPT"
    assert taken["state"]["state_details"]["deployment_concurrency_lease_id"] is None
