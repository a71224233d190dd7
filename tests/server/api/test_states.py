import uuid

import httpx
from fastapi import FastAPI
from run_helpers import make_flow, make_run

from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy


async def test_flow_run_state_history(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    url = f"/flow_runs/{run['id']}/set_state"
    for state_type in ("RUNNING", "COMPLETED"):
        assert (await client.post(url, json={"state": {"type": state_type}})).status_code == 201
    response = await client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
    assert response.status_code == 200
    states = response.json()
    assert [s["type"] for s in states] == ["PENDING", "RUNNING", "COMPLETED"]
    assert states[0]["id"] == run["state"]["id"]
    assert all(s["state_details"]["flow_run_id"] == run["id"] for s in states)

    one = await client.get(f"/flow_run_states/{states[1]['id']}")
    assert one.status_code == 200 and one.json() == states[1]


async def test_task_run_state_history(client: httpx.AsyncClient) -> None:
    flow_run = await make_run(client, await make_flow(client))
    await client.post(
        f"/flow_runs/{flow_run['id']}/set_state", json={"state": {"type": "RUNNING"}}
    )
    task = await client.post(
        "/task_runs/",
        json={"flow_run_id": flow_run["id"], "task_key": "t", "dynamic_key": "0"},
    )
    task_id = task.json()["id"]
    await client.post(f"/task_runs/{task_id}/set_state", json={"state": {"type": "RUNNING"}})
    states = (await client.get("/task_run_states/", params={"task_run_id": task_id})).json()
    assert [s["type"] for s in states] == ["PENDING", "RUNNING"]
    one = await client.get(f"/task_run_states/{states[0]['id']}")
    assert one.status_code == 200 and one.json()["name"] == "Pending"


async def test_unknown_states_and_bad_parameters(client: httpx.AsyncClient) -> None:
    unknown = str(uuid.uuid4())
    assert (await client.get("/flow_run_states/", params={"flow_run_id": unknown})).json() == []
    assert (await client.get("/task_run_states/", params={"task_run_id": unknown})).json() == []
    missing = await client.get(f"/flow_run_states/{unknown}")
    assert missing.status_code == 404 and missing.json()["detail"] == "Flow run state not found."
    assert (await client.get(f"/task_run_states/{unknown}")).status_code == 404
    no_param = await client.get("/flow_run_states/")
    assert no_param.status_code == 422 and "flow_run_id" in no_param.json()["detail"]
    bad_id = await client.get("/task_run_states/", params={"task_run_id": "nope"})
    assert bad_id.status_code == 422 and "task_run_id" in bad_id.json()["detail"]


async def test_states_are_isolated_by_workspace(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    run = await make_run(client, await make_flow(client))
    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    listed = await client.get(f"{prefix}/flow_run_states/", params={"flow_run_id": run["id"]})
    assert listed.json() == []
    assert (await client.get(f"{prefix}/flow_run_states/{run['state_id']}")).status_code == 404
