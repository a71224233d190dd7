"""The operations the web UI's dashboard and flow-run list call (``operations.dashboard``,
``operations.flow_run_pages``): what they read, and that each checks its permissions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flowyard.schemas.filters import RunFilters
from flowyard.server.errors import Forbidden, Invalid
from flowyard.server.operations import dashboard, flow_run_pages
from flowyard.server.operations.context import RequestContext
from flowyard.server.operations.flow_run_pages import FlowRunOrder


def _ctx(app: FastAPI, permissions: set[str] | None = None) -> RequestContext:
    return RequestContext(
        app.state.db, app.state.default_workspace_id, app.state.default_account_id,
        permissions=frozenset(permissions) if permissions is not None else None,
    )  # fmt: skip


async def _run(client: httpx.AsyncClient, flow_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/flow_runs/", json={"flow_id": flow_id, **fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def test_a_page_of_runs_comes_with_flow_names_and_task_run_counts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    run = await _run(client, flow, name="a", state={"type": "RUNNING"})
    await _run(client, flow, name="b", state={"type": "COMPLETED"})
    for key in ["t1", "t2"]:
        body = {"flow_run_id": run["id"], "task_key": key, "dynamic_key": "0", "name": key}
        assert (await client.post("/task_runs/", json=body)).status_code == 201
    page = await flow_run_pages.read_flow_run_page(
        _ctx(app), RunFilters(), FlowRunOrder.NAME_ASC, None, 1
    )
    assert [r.name for r in page.runs] == ["a"]
    assert page.flow_names == {uuid.UUID(flow): "etl"}
    assert page.task_run_counts == {uuid.UUID(run["id"]): 2}
    assert page.next is not None
    rest = await flow_run_pages.read_flow_run_page(
        _ctx(app), RunFilters(), FlowRunOrder.NAME_ASC, page.next, 1
    )
    assert [r.name for r in rest.runs] == ["b"] and rest.next is None


async def test_reads_and_actions_check_every_permission_they_use(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    run = await _run(client, flow, state={"type": "SCHEDULED"})
    order = FlowRunOrder.START_DESC
    with pytest.raises(Forbidden):
        await flow_run_pages.read_flow_run_page(_ctx(app, set()), RunFilters(), order, None, 5)
    # The runs' flow names are a read of flows: checked too, though composed.
    with pytest.raises(Forbidden, match="read:flow'"):
        await flow_run_pages.read_flow_run_page(
            _ctx(app, {"read:flow_run"}), RunFilters(), order, None, 5
        )
    with pytest.raises(Forbidden):
        await flow_run_pages.cancel_flow_runs(_ctx(app, {"read:flow_run"}), [uuid.UUID(run["id"])])
    with pytest.raises(Forbidden):
        await flow_run_pages.delete_flow_runs(
            _ctx(app, {"read:flow_run", "update:flow_run"}), [uuid.UUID(run["id"])]
        )
    assert (await client.get(f"/flow_runs/{run['id']}")).json()["state"]["type"] == "SCHEDULED"


async def test_bulk_actions_refuse_empty_and_oversized_selections(app: FastAPI) -> None:
    with pytest.raises(Invalid, match="at least one"):
        await flow_run_pages.cancel_flow_runs(_ctx(app), [])
    too_many = [uuid.uuid4() for _ in range(flow_run_pages.MAX_SELECTION + 1)]
    with pytest.raises(Invalid, match="at most"):
        await flow_run_pages.retry_flow_runs(_ctx(app), too_many)


async def test_the_dashboard_reads_each_section(app: FastAPI, client: httpx.AsyncClient) -> None:
    flow = (await client.post("/flows/", json={"name": "etl"})).json()["id"]
    now = dt.datetime.now(dt.UTC)
    later = (now + dt.timedelta(hours=1)).isoformat()
    failed = await _run(client, flow, tags=["etl"], state={"type": "FAILED"})
    await _run(client, flow, tags=["etl"], state={"type": "COMPLETED"})
    await _run(client, flow, tags=["other"], state={"type": "CRASHED"})
    upcoming = await _run(
        client, flow, tags=["etl"],
        state={"type": "SCHEDULED", "state_details": {"scheduled_time": later}},
    )  # fmt: skip
    pool = await client.post("/work_pools/", json={"name": "pool-a", "type": "process"})
    assert pool.status_code == 201
    beat = await client.post("/work_pools/pool-a/workers/heartbeat", json={"name": "w1"})
    assert beat.is_success, beat.text

    board = await dashboard.read_dashboard(
        _ctx(app), ["etl"], now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1), now
    )
    counts: dict[str, int] = {}
    for interval in board.history:
        for state in interval.states:
            key = state.state_type.value
            counts[key] = counts.get(key, 0) + state.count_runs
    assert counts == {"FAILED": 1, "COMPLETED": 1}  # the CRASHED run lacks the tag
    assert [r.id for r in board.failed_runs] == [uuid.UUID(failed["id"])]
    assert [r.id for r in board.upcoming_runs] == [uuid.UUID(upcoming["id"])]
    assert board.flow_names == {uuid.UUID(flow): "etl"}
    assert [p.name for p in board.work_pools] == ["pool-a"]
    assert board.work_pools[0].status == "READY"
    [(pool_id, polled)] = board.last_polls.items()
    assert pool_id == board.work_pools[0].id and polled >= now - dt.timedelta(seconds=1)
    with pytest.raises(Forbidden):
        await dashboard.read_dashboard(_ctx(app, {"read:flow_run"}), [], now, now, now)
