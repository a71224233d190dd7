"""The task-run methods of the client, against the real app in-process."""

from __future__ import annotations

import uuid

import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import ObjectNotFound
from flowyard.schemas.core import FlowRun, TaskRunInput
from flowyard.schemas.filters import FlowRunFilter, IdFilter, NameFilter, TaskRunFilter
from flowyard.schemas.states import SetStateStatus, State, StateType


@pytest.fixture
async def flow_run(api_client: FlowyardClient) -> FlowRun:
    flow = await api_client.create_flow("etl")
    run = await api_client.create_flow_run(flow.id)
    await api_client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    return run


async def test_create_is_an_upsert_by_keys(api_client: FlowyardClient, flow_run: FlowRun) -> None:
    first = await api_client.create_task_run("extract-1", "0", flow_run_id=flow_run.id, name="e")
    again = await api_client.create_task_run("extract-1", "0", flow_run_id=flow_run.id)
    other = await api_client.create_task_run("extract-1", "1", flow_run_id=flow_run.id)
    assert first.id == again.id != other.id
    assert first.state_type == StateType.PENDING


async def test_read_update_delete(api_client: FlowyardClient, flow_run: FlowRun) -> None:
    upstream = await api_client.create_task_run("a", "0", flow_run_id=flow_run.id)
    run = await api_client.create_task_run(
        "b",
        "0",
        flow_run_id=flow_run.id,
        tags=["t"],
        task_inputs={"x": [TaskRunInput(input_type="task_run", id=upstream.id)]},
    )
    read = await api_client.read_task_run(run.id)
    assert read.task_inputs["x"][0].id == upstream.id
    await api_client.update_task_run(run.id, name="renamed")
    assert (await api_client.read_task_run(run.id)).name == "renamed"
    await api_client.delete_task_run(run.id)
    with pytest.raises(ObjectNotFound):
        await api_client.read_task_run(run.id)


async def test_states(api_client: FlowyardClient, flow_run: FlowRun) -> None:
    run = await api_client.create_task_run("a", "0", flow_run_id=flow_run.id)
    result = await api_client.set_task_run_state(run.id, State(type=StateType.RUNNING))
    assert result.status == SetStateStatus.ACCEPT
    await api_client.set_task_run_state(run.id, State(type=StateType.COMPLETED))
    states = await api_client.read_task_run_states(run.id)
    assert [s.type for s in states] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]
    with pytest.raises(ObjectNotFound):
        await api_client.set_task_run_state(uuid.uuid4(), State(type=StateType.RUNNING))


async def test_filter_and_count(api_client: FlowyardClient, flow_run: FlowRun) -> None:
    ids = [
        (await api_client.create_task_run("t", str(i), flow_run_id=flow_run.id, name=f"t-{i}")).id
        for i in range(3)
    ]
    in_run = FlowRunFilter(id=IdFilter(any_=[flow_run.id]))
    assert {r.id for r in await api_client.read_task_runs(flow_run_filter=in_run)} == set(ids)
    named = TaskRunFilter(name=NameFilter(any_=["t-1"]))
    assert [r.id for r in await api_client.read_task_runs(task_run_filter=named)] == [ids[1]]
    assert await api_client.count_task_runs(flow_run_filter=in_run) == 3
    assert len(await api_client.read_task_runs(limit=2)) == 2
