"""Cancellation: the service finishes cancellations nothing else will finish, and cancels
what a cancelled flow run leaves behind; the CLI's ``flowyard flow-run cancel``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from typer.testing import CliRunner

from flowyard.cli.main import app as cli_app
from flowyard.client import get_sync_client
from flowyard.schemas.states import State, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.services import cancellation
from flowyard.server.services.registry import services

LIMITS = "/v2/concurrency_limits"


async def make_run(client: httpx.AsyncClient, running: bool = True, **fields: Any) -> str:
    flow_id = (await client.post("/flows/", json={"name": "cancel-me"})).json()["id"]
    created = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    run_id = str(created.json()["id"])
    if running:
        await set_state(client, run_id, "RUNNING")
    return run_id


async def set_state(client: httpx.AsyncClient, run_id: str, kind: str) -> dict[str, Any]:
    answer = await client.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": kind}})
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


async def state_type(client: httpx.AsyncClient, run_id: str, kind: str = "flow_runs") -> str:
    return str((await client.get(f"/{kind}/{run_id}")).json()["state"]["type"])


async def task_run(client: httpx.AsyncClient, flow_run_id: str, key: str) -> str:
    body = {"flow_run_id": flow_run_id, "task_key": key, "dynamic_key": "0", "name": key}
    task_id = str((await client.post("/task_runs/", json=body)).json()["id"])
    await client.post(f"/task_runs/{task_id}/set_state", json={"state": {"type": "RUNNING"}})
    return task_id


async def test_a_cancelling_run_with_no_process_is_cancelled_with_its_children(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert cancellation.start in services()
    parent = await make_run(client)
    task_id = await task_run(client, parent, "work")
    tracking = await task_run(client, parent, "child-flow")
    child = await make_run(client, parent_task_run_id=tracking)
    await client.post(f"{LIMITS}/", json={"name": "api", "limit": 1})
    taken = await client.post(
        f"{LIMITS}/increment-with-lease",
        json={"names": ["api"], "slots": 1, "holder": {"type": "task_run", "id": task_id}},
    )
    assert taken.status_code == 200

    assert (await set_state(client, parent, "CANCELLING"))["status"] == "ACCEPT"
    await cancellation.finish_cancellations(db, timeout_seconds=300)
    assert await state_type(client, parent) == "CANCELLED"
    assert await state_type(client, task_id, "task_runs") == "CANCELLED"
    assert (await client.get(f"{LIMITS}/api")).json()["active_slots"] == 0
    # The subflow is sent to Cancelling, then (no process of its own) cancelled.
    assert await state_type(client, child) in ("CANCELLING", "CANCELLED")
    await cancellation.finish_cancellations(db, timeout_seconds=300)
    assert await state_type(client, child) == "CANCELLED"
    assert await state_type(client, tracking, "task_runs") == "CANCELLED"
    # Nothing is left to do.
    assert await cancellation.finish_cancellations(db, timeout_seconds=300) == 0


async def test_a_run_with_a_process_is_left_to_it_until_the_timeout(
    client: httpx.AsyncClient, db: Database
) -> None:
    leased = await make_run(client)
    await client.post(f"/flow_runs/{leased}/lease", json={"lease_seconds": 60})
    with_pid = await make_run(client)
    await client.patch(f"/flow_runs/{with_pid}", json={"infrastructure_pid": "host:1234"})
    for run_id in (leased, with_pid):
        assert (await set_state(client, run_id, "CANCELLING"))["status"] == "ACCEPT"

    assert await cancellation.finish_cancellations(db, timeout_seconds=300) == 0
    assert await state_type(client, leased) == "CANCELLING"
    assert await state_type(client, with_pid) == "CANCELLING"
    # Nothing stopped them in time (their worker died too): they are cancelled.
    assert await cancellation.finish_cancellations(db, timeout_seconds=0) == 2
    assert await state_type(client, leased) == "CANCELLED"
    history = (await client.get("/flow_run_states/", params={"flow_run_id": with_pid})).json()
    assert "Nothing stopped the run" in history[-1]["message"]


async def test_a_scheduled_run_is_cancelled_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await make_run(client, running=False, state={"type": "SCHEDULED"})
    answer = await set_state(client, run_id, "CANCELLING")
    assert answer["state"]["type"] == "CANCELLED"
    async with db.read() as session:
        run = await session.get(orm.FlowRun, uuid.UUID(run_id))
        assert run is not None and run.state_type == "CANCELLED"
        count = sa.select(sa.func.count()).select_from(orm.FlowRunState)
        assert await session.scalar(count.where(orm.FlowRunState.flow_run_id == run.id)) == 2


def test_cli_cancel() -> None:
    with get_sync_client() as client:
        flow = client.create_flow("cli-cancel")
        run = client.create_flow_run(flow.id)
        client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
        done = client.create_flow_run(flow.id)
        client.set_flow_run_state(done.id, State(type=StateType.RUNNING))
        client.set_flow_run_state(done.id, State(type=StateType.COMPLETED))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["flow-run", "cancel", str(run.id)])
    assert result.exit_code == 0, result.output
    assert f"Flow run {run.id} is Cancelling." in result.output
    with get_sync_client() as client:
        assert client.read_flow_run(run.id).state_type == "CANCELLING"
    refused = runner.invoke(cli_app, ["flow-run", "cancel", str(done.id)])
    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "not cancelled" in lines[0]
    missing = runner.invoke(cli_app, ["flow-run", "cancel", str(uuid.uuid4())])
    assert missing.exit_code == 1 and missing.output.strip() == "Error: Flow run not found."
