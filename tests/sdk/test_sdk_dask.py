"""DaskTaskRunner on a real LocalCluster: one it starts itself, and one at an address."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from flowyard import INPUTS, DaskTaskRunner, flow, get_run_logger, task
from flowyard.sdk.context import get_run_context

distributed = pytest.importorskip("distributed")


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


# Module-level tasks: worker processes import them by reference.
@task
def square(x: int) -> int:
    get_run_logger().info("squaring %d", x)
    return x * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
def worker_pid() -> int:
    return os.getpid()


@task
async def async_double(x: int) -> int:
    return 2 * x


@task(cache_policy=INPUTS)
def cached(x: int) -> int:
    return x + 1


def test_options_and_pickling() -> None:
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1})
    assert runner.duplicate()._options() == runner._options()
    with pytest.raises(ValueError, match="either"):
        DaskTaskRunner(address="tcp://127.0.0.1:1", cluster_kwargs={"n_workers": 1})
    import cloudpickle  # type: ignore[import-untyped]

    copy = cloudpickle.loads(cloudpickle.dumps(runner))
    assert copy._options() == runner._options() and copy._client is None


def test_a_local_cluster_of_threads(recorded: Any) -> None:
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "processes": False, "dashboard_address": None}
    )

    @flow(task_runner=runner)
    def pipeline() -> Any:
        squares = square.map([1, 2, 3])
        total = add.submit(squares[0], squares[2])
        failed = fail.submit("on dask")
        downstream = add.submit(failed, 1)
        first = cached(1, return_state=True).name
        again = cached.submit(1)
        downstream.wait()
        again.wait()
        return (
            squares.result(),
            total.result(),
            async_double.submit(5).result(),
            failed.result(raise_on_failure=False),
            downstream.state.name,
            first,
            again.state.name,
            flow_run_id(),
        )

    squares, total, doubled, error, downstream, first, second, run_id = pipeline()
    assert squares == [1, 4, 9] and total == 10 and doubled == 10
    assert isinstance(error, ValueError) and str(error) == "on dask"
    assert downstream == "NotReady"
    assert (first, second) == ("Completed", "Cached")
    runs = recorded.task_runs(run_id)
    assert len(runs) == 9
    by_state: dict[str, int] = {}
    for run in runs:
        by_state[run.state_name] = by_state.get(run.state_name, 0) + 1
    assert by_state == {"Completed": 6, "Failed": 1, "NotReady": 1, "Cached": 1}
    adds = [r for r in runs if r.name.startswith("add") and r.state_name == "Completed"]
    (total_run,) = adds
    assert len(total_run.task_inputs["x"]) == 1 and len(total_run.task_inputs["y"]) == 1
    logs = [log.message for log in recorded.logs(run_id)]
    assert {"squaring 1", "squaring 2", "squaring 3"} <= set(logs)
    assert runner._client is None  # the template runner never started a cluster


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield cluster
    finally:
        cluster.close()


def test_an_existing_cluster_of_processes(recorded: Any, process_cluster: Any) -> None:
    @flow(task_runner=DaskTaskRunner(address=process_cluster.scheduler_address))
    def pipeline() -> Any:
        pids = [worker_pid.submit() for _ in range(4)]
        return [f.result() for f in pids], add.submit(square.submit(3), 1).result(), flow_run_id()

    pids, value, run_id = pipeline()
    assert value == 10
    assert os.getpid() not in pids
    runs = recorded.task_runs(run_id)
    assert len(runs) == 6 and all(r.state_type == "COMPLETED" for r in runs)
    # The cluster was not ours to close.
    assert process_cluster.status.name == "running"
