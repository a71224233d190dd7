"""POST /task_runs/reports: flat task-run reports are recorded exactly as the equivalent
task-run events are, and a bad batch is refused whole with a message naming the field."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from task_run_events import T0, make_flow_run, retried_task_run

from flowyard.server.database import orm
from flowyard.server.database.engine import Database

# Columns that differ between two recordings of the same facts under other ids.
VOLATILE = {"id", "created", "updated", "state_id", "task_run_id", "dynamic_key"}


def report_of(event: dict[str, Any]) -> dict[str, Any]:
    """The report our SDK would send for the state change ``event`` describes."""
    snapshot = event["payload"]["task_run"]
    state = event["payload"]["validated_state"]
    flow_run = event["related"][0]["prefect.resource.id"].removeprefix("prefect.flow-run.")
    return {
        "id": event["resource"]["prefect.resource.id"].removeprefix("prefect.task-run."),
        "flow_run_id": flow_run,
        "state_id": event["id"],
        "state_type": state["type"],
        "state_name": state["name"],
        "state_timestamp": event["occurred"],
        "state_message": state["message"],
        "state_details": state["state_details"],
        "state_data": state["data"],
        **snapshot,
    }


async def _rows(db: Database, run_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def plain(row: Any) -> dict[str, Any]:
        return {k: v for k, v in row._mapping.items() if k not in VOLATILE}

    async with db.read() as session:
        run = (await session.execute(sa.select(orm.TaskRun).where(orm.TaskRun.id == run_id))).one()
        states = await session.execute(
            sa.select(orm.TaskRunState.__table__)
            .where(orm.TaskRunState.task_run_id == run_id)
            .order_by(orm.TaskRunState.timestamp)
        )
        run_row = {
            c.key: getattr(run[0], c.key) for c in orm.TaskRun.__table__.c if c.key not in VOLATILE
        }
        return run_row, [plain(row) for row in states]


async def _count(db: Database, table: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_reports_give_the_rows_the_equivalent_events_give(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    by_event, by_report = uuid.uuid4(), uuid.uuid4()
    events = retried_task_run(by_event, flow_run_id, dynamic_key="a")
    response = await client.post("/events", json=events)
    assert response.status_code == 204, response.text
    # The same history as reports, in two batches, the newest state first in the second.
    reports = [report_of(e) for e in retried_task_run(by_report, flow_run_id, dynamic_key="b")]
    for report, event in zip(reports, events, strict=True):
        report["task_inputs"] = event["payload"]["task_run"]["task_inputs"]  # random ids
    for batch in (reports[:2], reports[:1:-1]):
        response = await client.post("/task_runs/reports", json=batch)
        assert response.status_code == 204, response.text

    run_from_events, states_from_events = await _rows(db, by_event)
    run_from_reports, states_from_reports = await _rows(db, by_report)
    assert run_from_reports == run_from_events
    assert states_from_reports == states_from_events
    assert run_from_reports["state_name"] == "Completed" and run_from_reports["run_count"] == 2
    assert len(states_from_reports) == 5


async def test_an_older_report_never_overwrites_a_newer_state(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    run_id = uuid.uuid4()
    reports = [report_of(e) for e in retried_task_run(run_id, flow_run_id)]
    await client.post("/task_runs/reports", json=[reports[-1]])
    response = await client.post("/task_runs/reports", json=reports[:2])
    assert response.status_code == 204
    run = (await client.get(f"/task_runs/{run_id}")).json()
    assert run["state"]["type"] == "COMPLETED"
    states = (await client.get("/task_run_states/", params={"task_run_id": str(run_id)})).json()
    assert [s["name"] for s in states] == ["Pending", "Running", "Completed"]


async def test_new_and_already_recorded_runs_mix_in_one_batch(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    histories = [
        [report_of(e) for e in retried_task_run(uuid.uuid4(), flow_run_id)] for _ in range(4)
    ]
    await client.post("/task_runs/reports", json=[h[0] for h in histories[:2]])
    # Runs 0 and 1 exist now (updated in place), runs 2 and 3 are new (inserted).
    response = await client.post("/task_runs/reports", json=[h[-1] for h in histories])
    assert response.status_code == 204, response.text
    runs = (await client.post("/task_runs/filter", json={})).json()
    assert len(runs) == 4
    assert {r["state"]["type"] for r in runs} == {"COMPLETED"}


async def test_the_run_of_a_task_created_through_the_api_is_updated_not_duplicated(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    body = {"flow_run_id": str(flow_run_id), "task_key": "transform-3cceee12", "dynamic_key": "k"}
    created = await client.post("/task_runs/", json=body)
    assert created.status_code == 201, created.text
    report = report_of(retried_task_run(uuid.uuid4(), flow_run_id, dynamic_key="k")[-1])
    # Newer than the Pending state the server gave the run on creation.
    report["state_timestamp"] = dt.datetime.now(dt.UTC).isoformat()
    assert (await client.post("/task_runs/reports", json=[report])).status_code == 204
    runs = (await client.post("/task_runs/filter", json={})).json()
    assert [(r["id"], r["state"]["type"]) for r in runs] == [(created.json()["id"], "COMPLETED")]


async def test_reports_of_an_unknown_flow_run_are_skipped(
    client: httpx.AsyncClient, db: Database
) -> None:
    report = report_of(retried_task_run(uuid.uuid4(), uuid.uuid4())[-1])
    response = await client.post("/task_runs/reports", json=[report])
    assert response.status_code == 204
    assert await _count(db, orm.TaskRun.__table__) == 0


def _valid_report(flow_run_id: uuid.UUID) -> dict[str, Any]:
    return report_of(retried_task_run(uuid.uuid4(), flow_run_id)[-1])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state_type": "DONE"}, "state_type"),
        ({"task_key": None}, "task_key"),
        ({"task_key": "k" * 256}, "task_key"),
        ({"id": "not-a-uuid"}, "id"),
        ({"state_timestamp": "yesterday"}, "state_timestamp"),
        ({"run_count": "many"}, "run_count"),
        ({"tags": "a,b"}, "tags"),
    ],
)
async def test_a_bad_report_is_refused_naming_the_field_and_nothing_is_stored(
    client: httpx.AsyncClient, app: FastAPI, db: Database, change: dict[str, Any], field: str
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    good = _valid_report(flow_run_id)
    bad = {**_valid_report(flow_run_id), **change}
    response = await client.post("/task_runs/reports", json=[good, bad])
    assert response.status_code == 422
    assert f"1.{field}" in response.json()["detail"]
    assert await _count(db, orm.TaskRun.__table__) == 0
    assert await _count(db, orm.TaskRunState.__table__) == 0


async def test_a_missing_field_and_a_body_that_is_not_a_list_are_refused(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    flow_run_id = await make_flow_run(db, app.state.default_workspace_id)
    report = _valid_report(flow_run_id)
    del report["dynamic_key"]
    response = await client.post("/task_runs/reports", json=[report])
    assert response.status_code == 422 and "0.dynamic_key" in response.json()["detail"]
    response = await client.post("/task_runs/reports", json={"reports": []})
    assert response.status_code == 422
    response = await client.post(
        "/task_runs/reports", content=b"[{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert await _count(db, orm.TaskRun.__table__) == 0


async def test_reports_are_recorded_in_the_workspace_of_the_url(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    from flowyard.server.queries import tenancy

    account_id = app.state.default_account_id
    async with db.write() as session:
        workspace = await tenancy.create_workspace(session, account_id, "B", "b")
    flow_run_id = await make_flow_run(db, workspace.id)
    report = _valid_report(flow_run_id)
    base = f"/accounts/{account_id}/workspaces/{workspace.id}"
    assert (await client.post(f"{base}/task_runs/reports", json=[report])).status_code == 204
    # Not in the default workspace, where that flow run does not exist either.
    assert (await client.post("/task_runs/count", json={})).json() == 0
    assert (await client.post(f"{base}/task_runs/count", json={})).json() == 1
    assert (await client.post("/task_runs/reports", json=[report])).status_code == 204
    assert (await client.post("/task_runs/count", json={})).json() == 0


async def test_a_run_id_of_another_workspace_is_never_touched(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    from flowyard.server.queries import tenancy

    account_id = app.state.default_account_id
    async with db.write() as session:
        workspace = await tenancy.create_workspace(session, account_id, "B", "b")
    theirs = _valid_report(await make_flow_run(db, workspace.id))
    base = f"/accounts/{account_id}/workspaces/{workspace.id}"
    assert (await client.post(f"{base}/task_runs/reports", json=[theirs])).status_code == 204
    # The same run id reported in the default workspace, newer and failed: ignored there.
    ours = {
        **_valid_report(await make_flow_run(db, app.state.default_workspace_id)),
        "id": theirs["id"],
        "state_type": "FAILED",
        "state_name": "Failed",
        "state_timestamp": (T0 + dt.timedelta(days=1)).isoformat(),
    }
    assert (await client.post("/task_runs/reports", json=[ours])).status_code == 204
    run = (await client.get(f"{base}/task_runs/{theirs['id']}")).json()
    assert run["state"]["type"] == "COMPLETED"
    assert await _count(db, orm.TaskRunState.__table__) == 1
