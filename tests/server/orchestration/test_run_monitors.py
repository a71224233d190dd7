"""The monitors' state changes go through orchestration and each writes its event: Late
(in bulk, a constant number of statements whatever the batch size), Crashed when a lease
expires, Cancelled when a cancellation has nothing left to stop."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa

from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.orm_run_leases import FlowRunLease
from flowyard.server.orchestration import run_monitors
from flowyard.server.services import cancellation, late_runs, run_leases

SINCE = {"occurred": {"since": "2000-01-01T00:00:00Z"}}


def ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


async def flow(client: httpx.AsyncClient, name: str) -> str:
    return str((await client.post("/flows/", json={"name": name})).json()["id"])


async def run_in(client: httpx.AsyncClient, flow_id: str, state: dict[str, Any]) -> str:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, "state": state})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def overdue() -> dict[str, Any]:
    return {"type": "SCHEDULED", "state_details": {"scheduled_time": ago(120)}}


async def events_named(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    body = {"filter": {**SINCE, "event": {"name": [name]}}, "limit": 50}
    response = await client.post("/events/filter", json=body)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the write engine runs meanwhile (prepared fast paths on SQLite go
    straight to the driver and are not seen: on PostgreSQL every statement is)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db.write_engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def test_late_runs_are_marked_in_bulk_each_with_its_event(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = await flow(client, "late-events")
    runs = [await run_in(client, flow_id, overdue()) for _ in range(3)]
    assert await late_runs.mark_late_runs(db, after_seconds=15) == 3
    late = await events_named(client, "prefect.flow-run.Late")
    assert sorted(e["resource"]["prefect.resource.id"] for e in late) == sorted(
        f"prefect.flow-run.{run_id}" for run_id in runs
    )
    for event in late:
        assert event["resource"]["prefect.state-name"] == "Late"
        assert event["resource"]["prefect.state-type"] == "SCHEDULED"
        assert event["payload"]["initial_state"]["name"] == "Scheduled"
        roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
        assert roles["flow"] == f"prefect.flow.{flow_id}"
        history = await client.get(
            "/flow_run_states/", params={"flow_run_id": event["resource"]["prefect.resource.id"]
                                         .rsplit(".", 1)[1]}
        )  # fmt: skip
        assert [s["name"] for s in history.json()] == ["Scheduled", "Late"]
        assert history.json()[1]["id"] == event["id"]


async def test_a_batch_costs_the_same_statements_whatever_its_size(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = await flow(client, "bulk")

    async def mark(count: int) -> int:
        keys = []
        for _ in range(count):
            run_id = uuid.UUID(await run_in(client, flow_id, overdue()))
            keys.append((await workspace_of(db, run_id), run_id))
        with statements(db) as seen:
            async with db.write() as session:
                assert await run_monitors.mark_runs_late(session, keys) == count
        return len(seen)

    await mark(1)  # the flow's name is looked up once per process, then kept
    assert await mark(3) == await mark(30)


async def workspace_of(db: Database, run_id: uuid.UUID) -> uuid.UUID:
    async with db.read() as session:
        workspace_id = await session.scalar(
            sa.select(orm.FlowRun.workspace_id).where(orm.FlowRun.id == run_id)
        )
    assert workspace_id is not None
    return workspace_id


async def test_a_run_of_another_workspace_is_not_marked_through_a_wrong_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = uuid.UUID(await run_in(client, await flow(client, "keys"), overdue()))
    async with db.write() as session:
        assert await run_monitors.mark_runs_late(session, [(uuid.uuid4(), run_id)]) == 0
    state = (await client.get(f"/flow_runs/{run_id}")).json()["state"]
    assert state["name"] == "Scheduled"


async def test_a_rolled_back_batch_leaves_no_state_and_no_event(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = uuid.UUID(await run_in(client, await flow(client, "rollback"), overdue()))
    keys = [(await workspace_of(db, run_id), run_id)]
    try:
        async with db.write() as session:
            assert await run_monitors.mark_runs_late(session, keys) == 1
            raise RuntimeError("the caller fails after the batch")
    except RuntimeError:
        pass
    assert (await client.get(f"/flow_runs/{run_id}")).json()["state"]["name"] == "Scheduled"
    assert await events_named(client, "prefect.flow-run.Late") == []


async def test_an_expired_lease_crashes_the_run_with_its_events(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await run_in(client, await flow(client, "crash"), {"type": "RUNNING"})
    task = await client.post(
        "/task_runs/",
        json={"flow_run_id": run_id, "task_key": "t", "dynamic_key": "0",
              "state": {"type": "RUNNING"}},
    )  # fmt: skip
    assert task.status_code == 201, task.text
    await client.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": 30})
    async with db.write() as session:
        await session.execute(
            sa.update(FlowRunLease)
            .where(FlowRunLease.flow_run_id == uuid.UUID(run_id))
            .values(expiration=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert await run_leases.settle_expired_leases(db) == 1
    [crashed] = await events_named(client, "prefect.flow-run.Crashed")
    assert crashed["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert "stopped renewing its lease" in crashed["resource"]["prefect.state-message"]
    task_events = await events_named(client, "prefect.task-run.Crashed")
    assert [e["resource"]["prefect.resource.id"] for e in task_events] == [
        f"prefect.task-run.{task.json()['id']}"
    ]


async def test_a_cancellation_with_nothing_to_stop_ends_cancelled_with_its_event(
    client: httpx.AsyncClient, db: Database
) -> None:
    run_id = await run_in(client, await flow(client, "cancel"), {"type": "RUNNING"})
    cancelling = await client.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}}
    )
    assert cancelling.json()["status"] == "ACCEPT", cancelling.text
    assert await cancellation.finish_cancellations(db, timeout_seconds=300) >= 1
    [cancelled] = await events_named(client, "prefect.flow-run.Cancelled")
    assert cancelled["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert cancelled["payload"]["initial_state"]["type"] == "CANCELLING"
