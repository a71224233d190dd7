"""report_task_runs: over HTTP it posts /task_runs/reports; embedded it hands the batch
straight to the in-process server, validated just the same."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from flowyard.client import FlowyardClient, get_client, get_sync_client
from flowyard.exceptions import InvalidRequest


def _report(flow_run_id: uuid.UUID, i: int, **changes: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "id": uuid.uuid4(),
        "flow_run_id": flow_run_id,
        "name": f"inc-{i}",
        "task_key": "inc-1234",
        "dynamic_key": str(i),
        "state_id": uuid.uuid4(),
        "state_type": "COMPLETED",
        "state_name": "Completed",
        "state_timestamp": now,
        "run_count": 1,
        "start_time": now,
        "end_time": now,
        **changes,
    }


async def _check_round_trip(client: FlowyardClient) -> None:
    flow = await client.create_flow("reported")
    run = await client.create_flow_run(flow.id)
    await client.report_task_runs([_report(run.id, i) for i in range(3)])
    await client.report_task_runs([])  # nothing to send
    runs = await client.read_task_runs()
    assert sorted(r.dynamic_key for r in runs) == ["0", "1", "2"]
    assert {(r.state.type, r.run_count) for r in runs if r.state} == {("COMPLETED", 1)}

    with pytest.raises(InvalidRequest) as info:
        await client.report_task_runs([_report(run.id, 3), _report(run.id, 4, state_type="X")])
    assert "1.state_type" in str(info.value)
    assert await client.count_task_runs() == 3  # nothing of the bad batch


async def test_reports_over_http(api_client: FlowyardClient) -> None:
    assert not api_client.embedded
    await _check_round_trip(api_client)


async def test_reports_embedded() -> None:
    async with get_client() as client:
        assert client.embedded
        await _check_round_trip(client)


def test_reports_embedded_from_the_sync_client_and_other_loops() -> None:
    with get_sync_client() as client:
        flow = client.create_flow("reported")
        run = client.create_flow_run(flow.id)
        client.report_task_runs([_report(run.id, 0)])

    async def from_a_loop_of_its_own() -> None:
        async with get_client() as other:
            await other.report_task_runs([_report(run.id, 1)])

    asyncio.run(from_a_loop_of_its_own())
    with get_sync_client() as client:
        assert client.count_task_runs() == 2
