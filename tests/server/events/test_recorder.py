"""The task-run recorder: real-shaped client events become task runs and their states."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from task_run_events import T0, make_flow_run, retried_task_run, task_run_event

from flowyard.schemas import core
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.events.pipeline import write_events
from flowyard.server.queries import tenancy


async def _post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    response = await client.post("/events", json=events)
    assert response.status_code == 204, response.text


async def _run(db: Database, run_id: uuid.UUID) -> orm.TaskRun | None:
    async with db.read() as session:
        return await session.get(orm.TaskRun, run_id)


async def _states(db: Database, run_id: uuid.UUID) -> list[orm.TaskRunState]:
    async with db.read() as session:
        query = (
            sa.select(orm.TaskRunState)
            .where(orm.TaskRunState.task_run_id == run_id)
            .order_by(orm.TaskRunState.timestamp)
        )
        return list((await session.scalars(query)).all())


async def test_a_retried_task_run_is_recorded_with_its_history(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    run_id = uuid.uuid4()
    events = retried_task_run(run_id, flow_run_id)
    await _post(client, events)

    run = await _run(db, run_id)
    assert run is not None
    assert run.flow_run_id == flow_run_id
    assert (run.task_key, run.dynamic_key) == (
        "transform-3cceee12",
        events[0]["payload"]["task_run"]["dynamic_key"],
    )
    assert (run.state_type, run.state_name, run.run_count) == ("COMPLETED", "Completed", 2)
    assert run.state_id == uuid.UUID(events[-1]["id"])
    assert run.state_timestamp == dt.datetime.fromisoformat(events[-1]["occurred"])
    assert run.start_time == dt.datetime.fromisoformat(events[1]["occurred"])
    assert run.end_time == dt.datetime.fromisoformat(events[-1]["occurred"])
    assert run.total_run_time == 0.004429
    assert run.empirical_policy["retries"] == 1
    assert run.next_scheduled_start_time is None

    states = await _states(db, run_id)
    assert [s.name for s in states] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert [s.id for s in states] == [uuid.UUID(e["id"]) for e in events]
    assert states[2].type == "SCHEDULED"
    assert states[2].state_details["scheduled_time"].startswith("2026-11-28T11:22:08")
    assert states[-1].state_details == {"untrackable_result": True}


async def test_awaiting_retry_sets_the_next_scheduled_start_time(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    run_id = uuid.uuid4()
    await _post(client, retried_task_run(run_id, flow_run_id)[:3])
    run = await _run(db, run_id)
    assert run is not None and run.state_name == "AwaitingRetry"
    assert run.next_scheduled_start_time == T0 + dt.timedelta(microseconds=1352, seconds=1)


async def test_an_older_state_never_overwrites_a_newer_one(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    first, second = uuid.uuid4(), uuid.uuid4()
    # Across requests: the final state arrives first, the rest later.
    events = retried_task_run(first, flow_run_id)
    await _post(client, events[-1:])
    await _post(client, events[:-1])
    # Within one batch: everything reversed.
    await _post(client, list(reversed(retried_task_run(second, flow_run_id))))
    for run_id in (first, second):
        run = await _run(db, run_id)
        assert run is not None
        assert (run.state_name, run.run_count) == ("Completed", 2)
        assert len(await _states(db, run_id)) == 5


async def test_duplicate_events_are_recorded_once(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    run_id = uuid.uuid4()
    events = retried_task_run(run_id, flow_run_id)
    await _post(client, events + events[:2])
    await _post(client, events)
    assert len(await _states(db, run_id)) == 5


async def test_a_run_created_under_another_id_is_updated_not_duplicated(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    workspace_id = app.state.default_workspace_id
    flow_run_id = await make_flow_run(db, workspace_id)
    existing_id = uuid.uuid4()
    async with db.write() as session:
        session.add(
            orm.TaskRun(
                id=existing_id, workspace_id=workspace_id, flow_run_id=flow_run_id,
                name="child-0", task_key="child-5c7e9470", dynamic_key="0",
            )
        )  # fmt: skip
    events = [
        task_run_event(uuid.uuid4(), flow_run_id, "Running", "RUNNING", T0,
                       task_key="child-5c7e9470", dynamic_key="0"),
    ]  # fmt: skip
    await _post(client, events)
    run = await _run(db, existing_id)
    assert run is not None and run.state_name == "Running"
    assert [s.id for s in await _states(db, existing_id)] == [uuid.UUID(events[0]["id"])]
    async with db.read() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(orm.TaskRun))
    assert count == 1


async def test_task_run_events_are_kept_as_states_other_events_as_events(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    recorded = task_run_event(uuid.uuid4(), flow_run_id, "Pending", "PENDING", T0)
    orphan = task_run_event(uuid.uuid4(), uuid.uuid4(), "Pending", "PENDING", T0)
    heartbeat = {
        "occurred": T0.isoformat(),
        "event": "prefect.flow-run.heartbeat",
        "resource": {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}"},
        "id": str(uuid.uuid4()),
    }
    await _post(client, [recorded, orphan, heartbeat])
    async with db.read() as session:
        stored = set(await session.scalars(sa.select(orm.Event.id)))
        runs = set(await session.scalars(sa.select(orm.TaskRun.id)))
    # The orphan's flow run is unknown: no run for it, but its event is not lost.
    assert stored == {uuid.UUID(orphan["id"]), uuid.UUID(heartbeat["id"])}
    assert len(runs) == 1
    # The recorded one is still an event of the feed, read back from its state row.
    response = await client.post("/events/filter", json={"filter": {
        "occurred": {"since": "2000-01-01T00:00:00Z"},
        "event": {"prefix": ["prefect.task-run."]}}})  # fmt: skip
    assert response.status_code == 200, response.text
    feed = {e["id"]: e for e in response.json()["events"]}
    assert set(feed) == {recorded["id"], orphan["id"]}
    assert feed[recorded["id"]]["event"] == "prefect.task-run.Pending"
    assert (
        feed[recorded["id"]]["resource"]["prefect.resource.id"]
        == (recorded["resource"]["prefect.resource.id"])
    )


async def test_a_task_run_of_another_workspace_is_never_touched(app: FastAPI, db: Database) -> None:
    home = app.state.default_workspace_id
    async with db.write() as session:
        other = await tenancy.create_workspace(session, app.state.default_account_id, "B", "b")
    other_flow_run = await make_flow_run(db, other.id)
    run_id = uuid.uuid4()
    theirs = task_run_event(run_id, other_flow_run, "Completed", "COMPLETED", T0)
    async with db.write() as session:
        await write_events(session, [(other.id, core.Event.model_validate(theirs))])

    # Same run id, sent to the home workspace, even naming their flow run: ignored.
    ours = task_run_event(run_id, other_flow_run, "Failed", "FAILED", T0 + dt.timedelta(1))
    async with db.write() as session:
        await write_events(session, [(home, core.Event.model_validate(ours))])
    run = await _run(db, run_id)
    assert run is not None and run.workspace_id == other.id and run.state_name == "Completed"
    assert [s.name for s in await _states(db, run_id)] == ["Completed"]
