"""Runs of Flowyard's SDK leave the same events as the official client's: every state a
flow run or task run enters is a ``prefect.flow-run.*`` / ``prefect.task-run.*`` event, in
the feed (stored) or, for the states a reporter batch coalesced, on the live stream."""

import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from flowyard import flow, task
from flowyard.client import get_sync_client
from flowyard.schemas.filters import EventFilter, EventNameFilter
from flowyard.sdk.engine import api
from flowyard.server.database.engine import Database


@task
def double(x: int) -> int:
    return 2 * x


@flow
def pipeline() -> int:
    return double(1) + double(2)


def test_a_flow_of_two_tasks_leaves_its_events_in_the_feed() -> None:
    assert pipeline() == 6
    reporter = api.current_reporter()
    assert reporter is not None and reporter.flush(timeout=60)
    client = get_sync_client()
    flow_events = client.read_events(
        EventFilter(event=EventNameFilter(prefix=["prefect.flow-run."])), limit=50
    )
    assert sorted(e.event for e in flow_events) == sorted(
        ["prefect.flow-run.Pending", "prefect.flow-run.Running", "prefect.flow-run.Completed"]
    )
    task_events = client.read_events(
        EventFilter(event=EventNameFilter(prefix=["prefect.task-run."])), limit=50
    )
    assert [e.event for e in task_events].count("prefect.task-run.Completed") == 2
    assert len({e.resource["prefect.resource.id"] for e in task_events}) == 2
    flow_run_id = flow_events[0].resource["prefect.resource.id"]
    for event in task_events:
        assert {"prefect.resource.id": flow_run_id, "prefect.resource.role": "flow-run"} in (
            event.related
        )


async def test_coalesced_states_reach_the_live_listeners(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()
    run = (await client.post("/flow_runs/", json={"flow_id": flow["id"]})).json()
    task_run_id, done = str(uuid.uuid4()), str(uuid.uuid4())
    report = {
        "id": task_run_id, "flow_run_id": run["id"], "name": "double-0", "task_key": "double",
        "dynamic_key": "0", "state_id": done, "state_type": "COMPLETED",
        "state_timestamp": "2030-01-01T00:00:02Z",
        "passed_states": [
            {"type": "PENDING", "timestamp": "2030-01-01T00:00:00Z"},
            {"type": "RUNNING", "timestamp": 1893456001.5},  # Unix seconds, as the SDK sends
        ],
    }  # fmt: skip
    seen: list[Any] = []

    async def listener(batch: Sequence[Any]) -> None:
        seen.extend(e for _, e in batch if e.event.startswith("prefect.task"))

    db.add_commit_listener(listener)
    try:
        assert (await client.post("/task_runs/reports", json=[report])).status_code == 204
    finally:
        db.remove_commit_listener(listener)
    assert [e.event for e in seen] == [
        "prefect.task-run.Pending", "prefect.task-run.Running", "prefect.task-run.Completed"
    ]  # fmt: skip
    assert str(seen[-1].id) == done and len({e.id for e in seen}) == 3
    assert seen[1].occurred.isoformat() == "2030-01-01T00:00:01.500000+00:00"
    assert all(e.resource["prefect.resource.id"] == f"prefect.task-run.{task_run_id}"
               for e in seen)  # fmt: skip
