"""The flow-run methods of the client, against the real app in-process."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from flowyard.client import FlowyardClient
from flowyard.exceptions import InvalidRequest, ObjectNotFound
from flowyard.schemas.filters import (
    FlowFilter,
    FlowRunFilter,
    NameFilter,
    StateFilter,
    StateTypeFilter,
)
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import SetStateStatus, State, StateCreate, StateType


async def test_create_read_update_delete(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    run = await api_client.create_flow_run(
        flow.id, name="first", parameters={"x": 1}, tags=["a"], labels={"team": "data"}
    )
    assert run.flow_id == flow.id
    assert run.state_type == StateType.PENDING  # no state given: the run starts Pending
    assert run.parameters == {"x": 1}

    await api_client.update_flow_run(run.id, name="renamed", tags=["b"])
    await api_client.update_flow_run_labels(run.id, {"env": "prod"})
    read = await api_client.read_flow_run(run.id)
    assert (read.name, read.tags) == ("renamed", ["b"])
    assert read.labels["team"] == "data" and read.labels["env"] == "prod"
    assert read.state is not None and read.state.type == StateType.PENDING

    await api_client.delete_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        await api_client.read_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        await api_client.delete_flow_run(run.id)


async def test_idempotency_key_returns_the_same_run(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    first = await api_client.create_flow_run(flow.id, idempotency_key="k")
    again = await api_client.create_flow_run(flow.id, idempotency_key="k")
    assert first.id == again.id


async def test_initial_state_and_state_transitions(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    run = await api_client.create_flow_run(flow.id, state=StateCreate(type=StateType.PENDING))

    result = await api_client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    assert result.status == SetStateStatus.ACCEPT
    assert result.state is not None and result.state.type == StateType.RUNNING

    result = await api_client.set_flow_run_state(
        run.id, StateCreate(type=StateType.COMPLETED, message="done")
    )
    assert result.status == SetStateStatus.ACCEPT

    states = await api_client.read_flow_run_states(run.id)
    assert [s.type for s in states] == [
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]
    assert (await api_client.read_flow_run(run.id)).state_type == StateType.COMPLETED


async def test_forced_transition(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    run = await api_client.create_flow_run(flow.id)
    await api_client.set_flow_run_state(run.id, State(type=StateType.RUNNING))
    await api_client.set_flow_run_state(run.id, State(type=StateType.COMPLETED))
    result = await api_client.set_flow_run_state(
        run.id, State(type=StateType.SCHEDULED), force=True
    )
    assert result.status == SetStateStatus.ACCEPT
    assert (await api_client.read_flow_run(run.id)).state_type == StateType.SCHEDULED


async def test_set_state_of_missing_run_is_not_found(api_client: FlowyardClient) -> None:
    with pytest.raises(ObjectNotFound):
        await api_client.set_flow_run_state(uuid.uuid4(), State(type=StateType.RUNNING))


async def test_filters_sort_and_count(api_client: FlowyardClient) -> None:
    etl = await api_client.create_flow("etl")
    report = await api_client.create_flow("report")
    a = await api_client.create_flow_run(etl.id, name="a")
    b = await api_client.create_flow_run(etl.id, name="b")
    c = await api_client.create_flow_run(report.id, name="c")
    await api_client.set_flow_run_state(b.id, State(type=StateType.RUNNING))

    by_name = await api_client.read_flow_runs(sort=FlowRunSort.NAME_DESC)
    assert [r.name for r in by_name] == ["c", "b", "a"]
    of_etl = await api_client.read_flow_runs(
        flow_filter=FlowFilter(name=NameFilter(any_=["etl"]))
    )
    assert {r.id for r in of_etl} == {a.id, b.id}
    running = FlowRunFilter(state=StateFilter(type=StateTypeFilter(any_=[StateType.RUNNING])))
    assert [r.id for r in await api_client.read_flow_runs(flow_run_filter=running)] == [b.id]
    assert await api_client.count_flow_runs() == 3
    assert await api_client.count_flow_runs(flow_run_filter=running) == 1
    page = await api_client.read_flow_runs(sort=FlowRunSort.NAME_ASC, limit=1, offset=2)
    assert [r.id for r in page] == [c.id]


async def test_history_counts_runs_by_state(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    for _ in range(2):
        await api_client.create_flow_run(flow.id)
    now = dt.datetime.now(dt.UTC)
    history = await api_client.read_flow_run_history(
        history_start=now - dt.timedelta(hours=1),
        history_end=now + dt.timedelta(hours=1),
        history_interval=dt.timedelta(minutes=30),
    )
    assert len(history) >= 4  # the server decides whether the end is a bucket of its own
    assert all(i.interval_end > i.interval_start for i in history)
    assert sum(s.count_runs for i in history for s in i.states) == 2


async def test_bad_input_is_refused_before_sending(api_client: FlowyardClient) -> None:
    flow = await api_client.create_flow("etl")
    with pytest.raises(InvalidRequest, match="name"):
        await api_client.create_flow_run(flow.id, name="x" * 300)
