"""/flow_runs/{id}/resume, /input and /blockers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.queries import tenancy

LIMITS = "/v2/concurrency_limits"
SCHEMA = {
    "type": "object",
    "title": "Approval",
    "properties": {
        "approved": {"type": "boolean"},
        "reviewer": {"type": "string", "minLength": 2},
        "level": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
        "notes": {"type": "array", "items": {"$ref": "#/$defs/Note"}},
    },
    "required": ["approved", "reviewer"],
    "$defs": {
        "Note": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    },
}


def soon(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def make_run(client: httpx.AsyncClient, **fields: Any) -> str:
    flow_id = (await client.post("/flows/", json={"name": "control"})).json()["id"]
    created = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def propose(client: httpx.AsyncClient, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(f"/flow_runs/{run_id}/set_state", json={"state": state})
    body: dict[str, Any] = answer.json()
    return body


async def paused_run(
    client: httpx.AsyncClient,
    keyset: dict[str, str] | None = None,
    schema: dict[str, Any] = SCHEMA,
) -> str:
    run_id = await make_run(client)
    await propose(client, run_id, {"type": "RUNNING"})
    if keyset:
        stored = await client.post(
            f"/flow_runs/{run_id}/input",
            json={"key": keyset["schema"], "value": json.dumps(schema)},
        )
        assert stored.status_code == 201, stored.text
    details = {"pause_timeout": soon(300), "pause_key": "p1", "run_input_keyset": keyset}
    answer = await propose(client, run_id, {"type": "PAUSED", "state_details": details})
    assert answer["status"] == "ACCEPT", answer
    return run_id


KEYSET = {
    "description": "paused-p1-description",
    "response": "paused-p1-response",
    "schema": "paused-p1-schema",
}


async def test_resume_validates_the_input_against_the_stored_schema(
    client: httpx.AsyncClient,
) -> None:
    run_id = await paused_run(client, KEYSET)
    bad_inputs = [
        ({"reviewer": "ann"}, "run_input.approved"),
        ({"approved": "yes", "reviewer": "ann"}, "run_input.approved"),
        ({"approved": True, "reviewer": "a"}, "run_input.reviewer"),
        ({"approved": True, "reviewer": "ann", "level": 0}, "run_input.level"),
        ({"approved": True, "reviewer": "ann", "notes": [{}]}, "run_input.notes.0.text"),
    ]
    for run_input, field in bad_inputs:
        refused = await client.post(f"/flow_runs/{run_id}/resume", json={"run_input": run_input})
        assert refused.status_code == 422, refused.text
        assert field in refused.json()["detail"], (field, refused.json())
    # Nothing changed on a refused request.
    assert (await client.get(f"/flow_runs/{run_id}")).json()["state"]["type"] == "PAUSED"
    assert (await client.get(f"/flow_runs/{run_id}/input/{KEYSET['response']}")).status_code == 404

    good = {"approved": True, "reviewer": "ann", "level": None, "notes": [{"text": "ok"}]}
    resumed = await client.post(f"/flow_runs/{run_id}/resume", json={"run_input": good})
    assert resumed.status_code == 201, resumed.text
    assert resumed.json()["status"] == "ACCEPT"
    assert resumed.json()["state"]["type"] == "RUNNING"
    stored = await client.get(f"/flow_runs/{run_id}/input/{KEYSET['response']}")
    assert stored.status_code == 200 and stored.json() == good
    # Resuming within the same attempt does not count as another run.
    assert (await client.get(f"/flow_runs/{run_id}")).json()["run_count"] == 1


async def test_resume_against_an_unusable_stored_schema_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    # The stored schema is the flow's, as untrusted as the input: a cycle, a bad pattern or
    # a bound that is not a number is named in a 422, never a 500 (or a hung worker).
    cases = [
        (
            {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/A"}},
                "$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/A"}]}},
            },
            "cyclic",
        ),
        ({"type": "object", "properties": {"a": {"pattern": "[z-a]"}}}, "regular expression"),
        ({"type": "object", "properties": {"a": {"minLength": "2"}}}, "minLength"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/Gone"}}}, "does not resolve"),
    ]
    for schema, reason in cases:
        run_id = await paused_run(client, KEYSET, schema)
        refused = await client.post(f"/flow_runs/{run_id}/resume", json={"run_input": {"a": "x"}})
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert detail.startswith("run_input.a:") and reason in detail, detail
        assert (await client.get(f"/flow_runs/{run_id}")).json()["state"]["type"] == "PAUSED"
    # Patterns run on RE2, in linear time: the ReDoS input (2^64 steps for Python's re) is
    # refused at once by name, and a matching one resumes the run.
    redos = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}
    run_id = await paused_run(client, KEYSET, redos)
    refused = await client.post(
        f"/flow_runs/{run_id}/resume", json={"run_input": {"a": "a" * 64 + "!"}}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == "run_input.a: must match the pattern '^(a+)+$'."
    resumed = await client.post(f"/flow_runs/{run_id}/resume", json={"run_input": {"a": "aaa"}})
    assert resumed.status_code == 201, resumed.text


async def test_resume_of_a_run_that_is_not_paused_is_aborted(client: httpx.AsyncClient) -> None:
    run_id = await make_run(client)
    answer = await client.post(f"/flow_runs/{run_id}/resume", json={})
    assert answer.status_code == 200
    assert answer.json()["status"] == "ABORT"
    assert "not paused" in answer.json()["details"]["reason"]
    assert (await client.post(f"/flow_runs/{uuid.uuid4()}/resume", json={})).status_code == 404
    bad = await client.post(f"/flow_runs/{run_id}/resume", json={"run_input": [1]})
    assert bad.status_code == 422 and "run_input" in bad.json()["detail"]


async def test_a_pause_without_input_resumes_and_a_suspension_is_rescheduled(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await paused_run(client)
    resumed = await client.post(f"/flow_runs/{run_id}/resume")
    assert resumed.json()["state"]["type"] == "RUNNING"

    suspended = await make_run(client)
    async with db.write() as session:
        await session.execute(
            sa.update(orm.FlowRun)
            .where(orm.FlowRun.id == uuid.UUID(suspended))
            .values(deployment_id=uuid.uuid4())
        )
    await propose(client, suspended, {"type": "RUNNING"})
    details = {"pause_timeout": soon(300), "pause_reschedule": True}
    answer = await propose(
        client, suspended, {"type": "PAUSED", "name": "Suspended", "state_details": details}
    )
    assert answer["status"] == "ACCEPT", answer
    again = await client.post(f"/flow_runs/{suspended}/resume")
    state = again.json()["state"]
    assert (state["type"], state["name"]) == ("SCHEDULED", "Resuming")


async def test_flow_run_inputs(client: httpx.AsyncClient) -> None:
    run_id = await make_run(client)
    base = f"/flow_runs/{run_id}/input"
    for key, value in (("greeting-1", '"hi"'), ("greeting-2", '"hello"'), ("other", "1")):
        created = await client.post(base, json={"key": key, "value": value, "sender": "me"})
        assert created.status_code == 201, created.text
    duplicate = await client.post(base, json={"key": "other", "value": "2"})
    assert duplicate.status_code == 409 and "key" in duplicate.json()["detail"]
    bad = await client.post(base, json={"key": "no spaces", "value": "2"})
    assert bad.status_code == 422 and "key" in bad.json()["detail"]
    assert (await client.get(f"{base}/other")).text == "1"

    found = await client.post(f"{base}/filter", json={"prefix": "greeting-", "limit": 10})
    assert [item["key"] for item in found.json()] == ["greeting-1", "greeting-2"]
    assert found.json()[0]["sender"] == "me" and found.json()[0]["flow_run_id"] == run_id
    rest = await client.post(
        f"{base}/filter", json={"prefix": "greeting-", "limit": 10, "exclude_keys": ["greeting-1"]}
    )
    assert [item["key"] for item in rest.json()] == ["greeting-2"]

    assert (await client.delete(f"{base}/other")).status_code == 204
    assert (await client.delete(f"{base}/other")).status_code == 404
    assert (await client.get(f"{base}/other")).status_code == 404
    missing_run = await client.post(
        f"/flow_runs/{uuid.uuid4()}/input", json={"key": "k", "value": "1"}
    )
    assert missing_run.status_code == 404


async def blockers(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/flow_runs/{run_id}/blockers")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["blockers"]
    return found


async def test_blockers_of_runs_that_are_not_waiting_are_empty(client: httpx.AsyncClient) -> None:
    run_id = await make_run(client)
    await propose(client, run_id, {"type": "RUNNING"})
    answer = (await client.get(f"/flow_runs/{run_id}/blockers")).json()
    assert answer == {
        "flow_run_id": run_id,
        "state_type": "RUNNING",
        "state_name": "Running",
        "blockers": [],
    }
    assert (await client.get(f"/flow_runs/{uuid.uuid4()}/blockers")).status_code == 404


async def test_blockers_scheduled_in_future_and_awaiting_retry(client: httpx.AsyncClient) -> None:
    when = soon(3600)
    future = await make_run(
        client, state={"type": "SCHEDULED", "state_details": {"scheduled_time": when}}
    )
    [blocker] = await blockers(client, future)
    assert blocker["kind"] == "scheduled_in_future"
    assert blocker["details"]["scheduled_time"][:16] == when[:16]
    assert "scheduled for" in blocker["message"]

    due = await make_run(client, state={"type": "SCHEDULED"})
    assert await blockers(client, due) == []

    retrying = await make_run(client, empirical_policy={"retries": 1, "retry_delay": 600})
    await propose(client, retrying, {"type": "RUNNING"})
    answer = await propose(client, retrying, {"type": "FAILED"})
    assert answer["state"]["name"] == "AwaitingRetry"
    [blocker] = await blockers(client, retrying)
    assert blocker["kind"] == "awaiting_retry" and "retried at" in blocker["message"]


async def test_blockers_name_a_full_tag_limit_and_its_holders(client: httpx.AsyncClient) -> None:
    holder = await make_run(client)
    await client.post(f"{LIMITS}/", json={"name": "tag:gpu", "limit": 1})
    taken = await client.post(
        f"{LIMITS}/increment-with-lease",
        json={"names": ["tag:gpu"], "slots": 1, "holder": {"type": "flow_run", "id": holder}},
    )
    assert taken.status_code == 200
    waiting = await make_run(client, tags=["gpu"], state={"type": "SCHEDULED"})
    [blocker] = await blockers(client, waiting)
    assert blocker["kind"] == "concurrency_limit_full"
    assert blocker["details"]["limit_name"] == "tag:gpu"
    assert blocker["details"]["limit"] == 1 and blocker["details"]["active"] == 1
    assert blocker["details"]["holders"][0]["holder"] == {"type": "flow_run", "id": holder}
    assert "'tag:gpu' is full (1/1)" in blocker["message"]

    # Once the slot is given back, nothing holds the run.
    await client.post(f"{LIMITS}/decrement-with-lease", json={"lease_id": taken.json()["lease_id"]})
    assert await blockers(client, waiting) == []


def test_cli_inspect_prints_the_blockers() -> None:
    from typer.testing import CliRunner

    from flowyard.cli.main import app as cli_app
    from flowyard.client import get_sync_client
    from flowyard.schemas.states import StateCreate, StateDetails, StateType

    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with get_sync_client() as client:
        flow = client.create_flow("inspect-blockers")
        state = StateCreate(
            type=StateType.SCHEDULED, state_details=StateDetails(scheduled_time=when)
        )
        run = client.create_flow_run(flow.id, state=state)
        blockers = client.read_flow_run_blockers(run.id)
    assert [b.kind for b in blockers.blockers] == ["scheduled_in_future"]
    result = CliRunner().invoke(cli_app, ["flow-run", "inspect", str(run.id)])
    assert result.exit_code == 0, result.output
    assert "Why isn't it running?\n  - The run is scheduled for" in result.output
    as_json = CliRunner().invoke(cli_app, ["flow-run", "inspect", str(run.id), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert '"blockers"' in as_json.output


async def test_blockers_of_a_run_in_a_work_pool(client: httpx.AsyncClient, db: Database) -> None:
    created = await client.post("/work_pools/", json={"name": "pool-a", "type": "process"})
    assert created.status_code == 201, created.text
    waiting = await make_run(client, work_pool_name="pool-a", state={"type": "SCHEDULED"})
    [blocker] = await blockers(client, waiting)
    assert blocker["kind"] == "no_worker"
    assert blocker["message"] == "No worker has ever polled work pool 'pool-a'."

    beat = {"name": "w1", "heartbeat_interval_seconds": 30}
    assert (await client.post("/work_pools/pool-a/workers/heartbeat", json=beat)).is_success
    assert await blockers(client, waiting) == []
    # A worker that stopped beating long ago does not count.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    async with db.write() as session:
        worker = orm.Base.metadata.tables["worker"]
        await session.execute(sa.update(worker).values(last_heartbeat_time=long_ago))
    [blocker] = await blockers(client, waiting)
    assert blocker["kind"] == "no_worker"
    assert f"since {long_ago.isoformat(timespec='seconds')[:19]}" in blocker["message"]
    assert (await client.post("/work_pools/pool-a/workers/heartbeat", json=beat)).is_success

    await client.patch("/work_pools/pool-a", json={"is_paused": True})
    assert [b["kind"] for b in await blockers(client, waiting)] == ["work_pool_paused"]
    await client.patch("/work_pools/pool-a", json={"is_paused": False})
    await client.patch("/work_pools/pool-a/queues/default", json={"is_paused": True})
    [blocker] = await blockers(client, waiting)
    assert blocker["kind"] == "work_queue_paused" and "'default'" in blocker["message"]
    await client.patch("/work_pools/pool-a/queues/default", json={"is_paused": False})
    assert await blockers(client, waiting) == []


async def test_blockers_name_full_pool_and_queue_limits_with_the_runs_holding_them(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/work_pools/", json={"name": "pool-b", "type": "process"})
    await client.post("/work_pools/pool-b/workers/heartbeat", json={"name": "w"})
    running = await make_run(client, work_pool_name="pool-b", name="busy-run")
    await propose(client, running, {"type": "RUNNING"})
    waiting = await make_run(client, work_pool_name="pool-b", state={"type": "SCHEDULED"})
    assert await blockers(client, waiting) == []

    await client.patch("/work_pools/pool-b", json={"concurrency_limit": 1})
    [blocker] = await blockers(client, waiting)
    assert blocker["kind"] == "concurrency_limit_full"
    assert blocker["details"]["limit_kind"] == "work pool"
    assert blocker["details"]["limit_name"] == "pool-b" and blocker["details"]["limit"] == 1
    assert blocker["details"]["holders"][0]["flow_run_id"] == running
    assert "held by busy-run" in blocker["message"]

    await client.patch("/work_pools/pool-b", json={"concurrency_limit": 5})
    await client.patch("/work_pools/pool-b/queues/default", json={"concurrency_limit": 1})
    [blocker] = await blockers(client, waiting)
    assert blocker["details"]["limit_kind"] == "work queue"
    assert blocker["details"]["holders"][0]["name"] == "busy-run"


async def test_blockers_of_a_deployment_run(client: httpx.AsyncClient) -> None:
    flow_id = (await client.post("/flows/", json={"name": "deployed"})).json()["id"]
    created = await client.post(
        "/deployments/", json={"name": "nightly", "flow_id": flow_id, "concurrency_limit": 1}
    )
    assert created.status_code in (200, 201), created.text
    deployment_id = created.json()["id"]

    async def deployment_run(**body: Any) -> str:
        made = await client.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    busy = await deployment_run(name="busy-deployed")
    await propose(client, busy, {"type": "RUNNING"})
    waiting = await deployment_run(state={"type": "SCHEDULED"})
    found = await blockers(client, waiting)
    assert [b["kind"] for b in found] == ["concurrency_limit_full"], found
    assert found[0]["details"]["limit_kind"] == "deployment"
    assert found[0]["details"]["holders"][0]["flow_run_id"] == busy

    await propose(client, busy, {"type": "COMPLETED"})
    assert await blockers(client, waiting) == []
    paused = await client.post(f"/deployments/{deployment_id}/pause_deployment")
    assert paused.is_success, paused.text
    # A run due now is kept by the pause (only auto-scheduled runs are removed) and, as on
    # the official server, a paused deployment does not hold it: nothing blocks it.
    assert await blockers(client, waiting) == []


async def test_a_paused_deployment_does_not_hold_its_runs_explainer_and_dispatcher_agree(
    client: httpx.AsyncClient,
) -> None:
    # The official server's get_scheduled_flow_runs filters on the pool and queue being
    # unpaused, never on the deployment: pausing a deployment only stops its schedules.
    await client.post("/work_pools/", json={"name": "held-pool", "type": "process"})
    await client.post("/work_pools/held-pool/workers/heartbeat", json={"name": "w"})
    flow_id = (await client.post("/flows/", json={"name": "held"})).json()["id"]
    body = {"name": "d", "flow_id": flow_id, "work_pool_name": "held-pool"}
    deployment_id = (await client.post("/deployments/", json=body)).json()["id"]
    assert (await client.post(f"/deployments/{deployment_id}/pause_deployment")).is_success
    await client.patch("/work_pools/held-pool", json={"is_paused": True})
    made = await client.post(f"/deployments/{deployment_id}/create_flow_run", json={})
    assert made.status_code == 201, made.text
    run_id = made.json()["id"]

    async def dispatched() -> list[str]:
        polled = await client.post("/work_pools/held-pool/get_scheduled_flow_runs", json={})
        assert polled.status_code == 200, polled.text
        return [r["flow_run"]["id"] for r in polled.json()]

    assert [b["kind"] for b in await blockers(client, run_id)] == ["work_pool_paused"]
    assert await dispatched() == []
    await client.patch("/work_pools/held-pool", json={"is_paused": False})
    assert await blockers(client, run_id) == []
    assert await dispatched() == [run_id]


async def test_blockers_show_nothing_of_another_workspace(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    # The default workspace: a paused deployment in a paused pool.
    await client.post("/work_pools/", json={"name": "their-pool", "type": "process"})
    pool = (await client.get("/work_pools/their-pool")).json()
    await client.patch("/work_pools/their-pool", json={"is_paused": True})
    flow_id = (await client.post("/flows/", json={"name": "theirs"})).json()["id"]
    body = {
        "name": "their-secret-deployment",
        "flow_id": flow_id,
        "paused": True,
        "concurrency_limit": 1,
        "work_pool_name": "their-pool",
    }
    deployment = (await client.post("/deployments/", json=body)).json()

    async with db.write() as session:
        other = await tenancy.create_workspace(
            session, app.state.default_account_id, "Other", "other"
        )
    prefix = f"/accounts/{other.account_id}/workspaces/{other.id}"
    own_flow = (await client.post(f"{prefix}/flows/", json={"name": "mine"})).json()["id"]
    # A run of another workspace's deployment is refused ...
    stolen = await client.post(
        f"{prefix}/flow_runs/",
        json={
            "flow_id": own_flow,
            "deployment_id": deployment["id"],
            "state": {"type": "SCHEDULED"},
        },
    )
    assert stolen.status_code == 404
    assert "deployment_id" in stolen.json()["detail"]
    # ... while one of this workspace's own deployments is fine.
    own = await client.post(f"{prefix}/deployments/", json={"name": "d", "flow_id": own_flow})
    fine = await client.post(
        f"{prefix}/flow_runs/", json={"flow_id": own_flow, "deployment_id": own.json()["id"]}
    )
    assert fine.status_code == 201, fine.text

    # Even a run linked to them some other way reads nothing of them through blockers.
    run_id = (
        await client.post(
            f"{prefix}/flow_runs/", json={"flow_id": own_flow, "state": {"type": "SCHEDULED"}}
        )
    ).json()["id"]
    async with db.write() as session:
        await session.execute(
            sa.update(orm.FlowRun)
            .where(orm.FlowRun.id == uuid.UUID(run_id))
            .values(
                deployment_id=uuid.UUID(deployment["id"]),
                work_pool_id=uuid.UUID(pool["id"]),
                work_queue_id=uuid.UUID(pool["default_queue_id"]),
            )
        )
    answer = await client.get(f"{prefix}/flow_runs/{run_id}/blockers")
    assert answer.status_code == 200, answer.text
    assert answer.json()["blockers"] == []
    for leaked in ("their-secret-deployment", "their-pool", deployment["id"]):
        assert leaked not in answer.text
    # In its own workspace the same links are reported.
    theirs = await client.post(
        "/flow_runs/", json={"flow_id": flow_id, "state": {"type": "SCHEDULED"}}
    )
    async with db.write() as session:
        await session.execute(
            sa.update(orm.FlowRun)
            .where(orm.FlowRun.id == uuid.UUID(theirs.json()["id"]))
            .values(
                deployment_id=uuid.UUID(deployment["id"]),
                work_pool_id=uuid.UUID(pool["id"]),
                work_queue_id=uuid.UUID(pool["default_queue_id"]),
            )
        )
    kinds = {b["kind"] for b in await blockers(client, theirs.json()["id"])}
    assert "work_pool_paused" in kinds
