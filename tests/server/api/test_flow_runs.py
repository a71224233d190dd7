import asyncio
import datetime as dt
import uuid

import httpx
from fastapi import FastAPI
from race_helpers import Contention
from run_helpers import at, make_flow, make_run

from flowyard.server.database.engine import Database
from flowyard.server.queries import flow_runs as flow_run_queries
from flowyard.server.queries import tenancy

# --- create and read ----------------------------------------------------------------------


async def test_create_flow_run_as_the_official_client_does(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client, labels={"team": "data"})
    body = {
        "state": {"type": "PENDING", "name": "Pending", "message": None,
                  "state_details": {"traceparent": None}, "data": None},
        "name": None, "flow_id": flow_id, "flow_version": "abc", "parameters": {"x": 1},
        "context": {}, "parent_task_run_id": None,
        "empirical_policy": {"retries": 0, "retry_delay": 0}, "tags": ["nightly"],
    }
    response = await client.post("/flow_runs/", json=body)
    assert response.status_code == 201
    run = response.json()
    adjective, animal = run["name"].split("-")
    assert adjective and animal
    assert run["labels"] == {"team": "data", "prefect.flow.id": flow_id}
    assert run["state_type"] == "PENDING" and run["state"]["name"] == "Pending"
    assert run["state"]["id"] == run["state_id"]
    assert run["state"]["state_details"]["flow_run_id"] == run["id"]
    assert run["expected_start_time"] is not None and run["estimated_run_time"] == 0.0
    assert run["empirical_policy"]["pause_keys"] == []
    assert run["parameters"] == {"x": 1} and run["tags"] == ["nightly"]

    read = await client.get(f"/flow_runs/{run['id']}")
    assert read.status_code == 200
    assert {k: v for k, v in read.json().items() if not k.startswith("estimated")} == {
        k: v for k, v in run.items() if not k.startswith("estimated")
    }


async def test_create_defaults_to_pending_and_keeps_a_given_name(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client), name="my-run")
    assert run["name"] == "my-run"
    assert run["state"]["type"] == "PENDING"


async def test_create_is_idempotent_per_flow_and_key(client: httpx.AsyncClient) -> None:
    flow_a, flow_b = await make_flow(client, "a"), await make_flow(client, "b")
    first = await make_run(client, flow_a, idempotency_key="k1")
    again = await client.post("/flow_runs/", json={"flow_id": flow_a, "idempotency_key": "k1"})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["state"]["id"] == first["state"]["id"]
    other_flow = await make_run(client, flow_b, idempotency_key="k1")
    assert other_flow["id"] != first["id"]
    assert (await client.post("/flow_runs/count", json={})).json() == 2


async def test_creates_with_one_idempotency_key_sent_at_once_make_one_run(
    client: httpx.AsyncClient, contention: Contention
) -> None:
    """Racing (PostgreSQL), all six find no run with the key, all insert: the unique
    constraint lets one in and the others answer with its run."""
    flow_id = await make_flow(client)
    body = {"flow_id": flow_id, "idempotency_key": "race"}
    gate = contention.hold(flow_run_queries, "read_flow_run_by_idempotency_key", 6)
    responses = await asyncio.gather(*(client.post("/flow_runs/", json=body) for _ in range(6)))
    assert gate.met is contention.racing
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await client.post("/flow_runs/count")).json() == 1


async def test_create_refuses_bad_input_and_stores_nothing(client: httpx.AsyncClient) -> None:
    missing_flow = await client.post("/flow_runs/", json={"flow_id": str(uuid.uuid4())})
    assert missing_flow.status_code == 404 and "flow_id" in missing_flow.json()["detail"]
    flow_id = await make_flow(client)
    extra = await client.post("/flow_runs/", json={"flow_id": flow_id, "surprise": 1})
    assert extra.status_code == 422 and "surprise" in extra.json()["detail"]
    bad_state = await client.post(
        "/flow_runs/", json={"flow_id": flow_id, "state": {"type": "DANCING"}}
    )
    assert bad_state.status_code == 422 and "state.type" in bad_state.json()["detail"]
    assert (await client.post("/flow_runs/count")).json() == 0


async def test_read_unknown_flow_run_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/flow_runs/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["detail"] == "Flow run not found."
    assert (await client.get("/flow_runs/not-a-uuid")).status_code == 422


async def test_flow_runs_are_isolated_by_workspace(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    flow_id = await make_flow(client)
    run = await make_run(client, flow_id)
    # The flow belongs to the default workspace: another workspace cannot run it ...
    response = await client.post(f"{prefix}/flow_runs/", json={"flow_id": flow_id})
    assert response.status_code == 404
    # ... nor see, change or delete the run.
    assert (await client.get(f"{prefix}/flow_runs/{run['id']}")).status_code == 404
    assert (await client.post(f"{prefix}/flow_runs/filter", json={})).json() == []
    patch = await client.patch(f"{prefix}/flow_runs/{run['id']}", json={"name": "x"})
    assert patch.status_code == 404
    assert (await client.delete(f"{prefix}/flow_runs/{run['id']}")).status_code == 404
    state = {"state": {"type": "RUNNING"}}
    stolen = await client.post(f"{prefix}/flow_runs/{run['id']}/set_state", json=state)
    assert stolen.status_code == 404
    assert (await client.get(f"/flow_runs/{run['id']}")).json()["name"] == run["name"]


# --- set_state ----------------------------------------------------------------------------


async def test_set_state_writes_a_new_state(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    response = await client.post(
        f"/flow_runs/{run['id']}/set_state",
        json={"state": {"type": "RUNNING", "name": "Running"}, "force": False},
    )
    assert response.status_code == 201
    result = response.json()
    assert result["status"] == "ACCEPT" and result["details"] == {"type": "accept_details"}
    read = (await client.get(f"/flow_runs/{run['id']}")).json()
    assert read["state"]["id"] == result["state"]["id"] and read["state_type"] == "RUNNING"
    assert read["run_count"] == 1 and read["start_time"] is not None


async def test_set_state_not_accepted_answers_200(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    url = f"/flow_runs/{run['id']}/set_state"
    await client.post(url, json={"state": {"type": "RUNNING"}})
    # A running run cannot go back to PENDING (two workers would both start it): ABORT.
    response = await client.post(url, json={"state": {"type": "PENDING"}})
    assert response.status_code == 200
    assert response.json()["status"] == "ABORT"
    assert (await client.get(f"/flow_runs/{run['id']}")).json()["state_type"] == "RUNNING"


async def test_set_state_unknown_run_and_bad_body(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        f"/flow_runs/{uuid.uuid4()}/set_state", json={"state": {"type": "RUNNING"}}
    )
    assert unknown.status_code == 404
    run = await make_run(client, await make_flow(client))
    bad = await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {}})
    assert bad.status_code == 422 and "state.type" in bad.json()["detail"]
    assert (await client.get(f"/flow_runs/{run['id']}")).json()["state_type"] == "PENDING"


# --- update, labels, delete ---------------------------------------------------------------


async def test_update_flow_run(client: httpx.AsyncClient) -> None:
    run = await make_run(client, await make_flow(client))
    response = await client.patch(
        f"/flow_runs/{run['id']}",
        json={"infrastructure_pid": "4242", "flow_version": "v2", "name": None,
              "empirical_policy": {"retries": 3, "retry_delay": 5}},
    )
    assert response.status_code == 204
    read = (await client.get(f"/flow_runs/{run['id']}")).json()
    assert read["infrastructure_pid"] == "4242" and read["flow_version"] == "v2"
    assert read["name"] == run["name"]  # an explicit null does not erase the name
    assert read["empirical_policy"]["retries"] == 3
    assert dt.datetime.fromisoformat(read["updated"]) > dt.datetime.fromisoformat(run["updated"])
    missing = await client.patch(f"/flow_runs/{uuid.uuid4()}", json={"name": "x"})
    assert missing.status_code == 404
    refused = await client.patch(f"/flow_runs/{run['id']}", json={"state_type": "COMPLETED"})
    assert refused.status_code == 422 and "state_type" in refused.json()["detail"]


async def test_update_labels_merges(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    run = await make_run(client, flow_id, labels={"a": "1", "b": "2"})
    response = await client.patch(
        f"/flow_runs/{run['id']}/labels", json={"b": "two", "prefect.worker.name": "w1"}
    )
    assert response.status_code == 204
    labels = (await client.get(f"/flow_runs/{run['id']}")).json()["labels"]
    assert labels == {"a": "1", "b": "two", "prefect.flow.id": flow_id, "prefect.worker.name": "w1"}
    missing = await client.patch(f"/flow_runs/{uuid.uuid4()}/labels", json={"a": "b"})
    assert missing.status_code == 404
    nested = await client.patch(f"/flow_runs/{run['id']}/labels", json={"a": {"deep": 1}})
    assert nested.status_code == 422


async def test_delete_flow_run_removes_states_task_runs_and_logs(
    client: httpx.AsyncClient,
) -> None:
    run = await make_run(client, await make_flow(client))
    keep = await make_run(client, await make_flow(client, "other"))
    await client.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    task = await client.post(
        "/task_runs/", json={"flow_run_id": run["id"], "task_key": "t", "dynamic_key": "0"}
    )
    logs = [
        {"name": "x", "level": 20, "message": m, "timestamp": at(0), "flow_run_id": r["id"]}
        for m, r in (("gone", run), ("kept", keep))
    ]
    assert (await client.post("/logs/", json=logs)).status_code == 201

    assert (await client.delete(f"/flow_runs/{run['id']}")).status_code == 204
    assert (await client.get(f"/flow_runs/{run['id']}")).status_code == 404
    states = await client.get("/flow_run_states/", params={"flow_run_id": run["id"]})
    assert states.json() == []
    assert (await client.get(f"/task_runs/{task.json()['id']}")).status_code == 404
    remaining = (await client.post("/logs/filter", json={})).json()
    assert [log["message"] for log in remaining] == ["kept"]
    assert (await client.delete(f"/flow_runs/{run['id']}")).status_code == 404


async def test_bulk_delete_flow_runs(client: httpx.AsyncClient) -> None:
    flow_id = await make_flow(client)
    runs = [await make_run(client, flow_id, tags=["old"] if i < 3 else []) for i in range(5)]
    response = await client.post(
        "/flow_runs/bulk_delete", json={"flow_runs": {"tags": {"all_": ["old"]}}, "limit": 2}
    )
    assert response.status_code == 200
    deleted = response.json()["deleted"]
    assert len(deleted) == 2 and set(deleted) <= {r["id"] for r in runs[:3]}
    assert (await client.post("/flow_runs/count")).json() == 3
    too_many = await client.post("/flow_runs/bulk_delete", json={"limit": 51})
    assert too_many.status_code == 422 and "limit" in too_many.json()["detail"]
