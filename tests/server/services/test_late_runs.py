"""The late-runs service: overdue Scheduled runs become Late through orchestration."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from flowyard.server.database.engine import Database
from flowyard.server.orchestration import run_monitors
from flowyard.server.services import late_runs
from flowyard.server.services.registry import services
from flowyard.settings import Settings


def ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


async def run_in(client: httpx.AsyncClient, flow_id: str, state: dict[str, Any]) -> str:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, "state": state})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def scheduled(seconds_ago: float, name: str = "Scheduled") -> dict[str, Any]:
    return {
        "type": "SCHEDULED",
        "name": name,
        "state_details": {"scheduled_time": ago(seconds_ago)},
    }


async def state_of(client: httpx.AsyncClient, run_id: str) -> tuple[str, str]:
    body = (await client.get(f"/flow_runs/{run_id}")).json()
    return body["state"]["type"], body["state"]["name"]


async def test_only_overdue_scheduled_runs_are_marked_late(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "late"})).json()["id"]
    overdue = await run_in(client, flow_id, scheduled(60))
    recent = await run_in(client, flow_id, scheduled(2))
    future = await run_in(client, flow_id, scheduled(-600))
    retrying = await run_in(client, flow_id, scheduled(60, "AwaitingRetry"))
    pending = await run_in(client, flow_id, {"type": "PENDING"})

    assert await late_runs.mark_late_runs(db, after_seconds=15) == 1
    assert await state_of(client, overdue) == ("SCHEDULED", "Late")
    assert await state_of(client, recent) == ("SCHEDULED", "Scheduled")
    assert await state_of(client, future) == ("SCHEDULED", "Scheduled")
    assert await state_of(client, retrying) == ("SCHEDULED", "AwaitingRetry")
    assert await state_of(client, pending) == ("PENDING", "Pending")

    # The history records the transition, keeping the time the run was due.
    history = (await client.get("/flow_run_states/", params={"flow_run_id": overdue})).json()
    assert [s["name"] for s in history] == ["Scheduled", "Late"]
    assert (
        history[1]["state_details"]["scheduled_time"]
        == history[0]["state_details"]["scheduled_time"]
    )
    # A second pass finds nothing more to do (Late runs are not marked again).
    assert await late_runs.mark_late_runs(db, after_seconds=15) == 0
    assert len((await client.get("/flow_run_states/", params={"flow_run_id": overdue})).json()) == 2


async def test_a_pass_marks_every_overdue_run_in_batches(
    client: httpx.AsyncClient, db: Database
) -> None:
    flow_id = (await client.post("/flows/", json={"name": "many"})).json()["id"]
    count = late_runs.BATCH + 30
    for _ in range(count):
        await run_in(client, flow_id, scheduled(120))
    assert await late_runs.mark_late_runs(db, after_seconds=15) == count
    late = await client.post(
        "/flow_runs/count", json={"flow_runs": {"state": {"name": {"any_": ["Late"]}}}}
    )
    assert late.json() == count


async def test_the_due_query_uses_the_partial_index(db: Database) -> None:
    # One indexed query per pass: on SQLite the plan names the index (PostgreSQL's
    # planner picks by table size, so only the query's success is checked there).
    query = sa.text(
        "EXPLAIN QUERY PLAN SELECT workspace_id, id FROM flow_run "
        "WHERE state_name = 'Scheduled' AND next_scheduled_start_time IS NOT NULL "
        "AND next_scheduled_start_time <= '2030-01-01' AND state_type = 'SCHEDULED' "
        "ORDER BY next_scheduled_start_time LIMIT 200"
    )
    assert await late_runs.read_due_runs(db, dt.datetime.now(dt.UTC), 10) == []
    if db.is_sqlite:
        async with db.read() as session:
            plan = " ".join(str(row) for row in await session.execute(query))
        assert "ix_flow_run__state_name_next_scheduled" in plan, plan


async def test_the_service_runs_with_the_configured_threshold(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    assert late_runs.start in services()
    assert Settings().server_services_late_runs_after_seconds == 15.0
    app.state.settings = settings.model_copy(
        update={"server_services_late_runs_after_seconds": 1.0}
    )
    flow_id = (await client.post("/flows/", json={"name": "svc"})).json()["id"]
    run_id = await run_in(client, flow_id, scheduled(5))
    stop = await late_runs.start(app, interval=0.05)
    try:
        for _ in range(400):
            if (await state_of(client, run_id))[1] == "Late":
                break
            await asyncio.sleep(0.05)
    finally:
        await stop()
    assert await state_of(client, run_id) == ("SCHEDULED", "Late")


async def test_a_run_already_marked_late_is_not_marked_again(
    client: httpx.AsyncClient, db: Database
) -> None:
    # What a second server with a stale list of due runs would try.
    flow_id = (await client.post("/flows/", json={"name": "twice"})).json()["id"]
    run_id = await run_in(client, flow_id, scheduled(60))
    due = await late_runs.read_due_runs(db, dt.datetime.now(dt.UTC), 10)
    async with db.write() as session:
        assert await run_monitors.mark_runs_late(session, due) == 1
    async with db.write() as session:
        assert await run_monitors.mark_runs_late(session, due) == 0
    history = (await client.get("/flow_run_states/", params={"flow_run_id": run_id})).json()
    assert [s["name"] for s in history] == ["Scheduled", "Late"]
