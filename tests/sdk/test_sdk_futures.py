"""Submitting and mapping: futures, dependencies, wait/as_completed, task runners."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from flowyard import (
    ProcessPoolTaskRunner,
    ThreadPoolTaskRunner,
    allow_failure,
    as_completed,
    flow,
    get_run_logger,
    task,
    unmapped,
    wait,
)
from flowyard.exceptions import UpstreamTaskError
from flowyard.sdk.context import get_run_context

# How long a task waits for an event another must set. Never reached when the code works;
# a bound only so that a broken test fails instead of hanging.
EVENT_TIMEOUT = 60.0


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def fail(message: str = "boom") -> int:
    raise ValueError(message)


def test_submit_returns_a_future(recorded: Any) -> None:
    @flow
    def pipeline() -> Any:
        future = add.submit(1, 2)
        assert future.task_run.name == "add-0"
        return future.result(), future.state.name, flow_run_id()

    value, state_name, run_id = pipeline()
    assert (value, state_name) == (3, "Completed")
    (run,) = recorded.task_runs(run_id)
    assert run.state_type == "COMPLETED"


def test_futures_as_arguments_resolve_in_order_and_are_recorded(recorded: Any) -> None:
    order: list[str] = []

    @task
    def slow_source() -> int:
        time.sleep(0.2)
        order.append("source")
        return 10

    @task
    def consumer(x: int, ys: list[int]) -> int:
        order.append("consumer")
        return x + sum(ys)

    @flow
    def pipeline() -> Any:
        a = slow_source.submit()
        b = add.submit(1, 1)
        c = consumer.submit(a, [b, 5])
        return c.result(), a.task_run.id, b.task_run.id, c.task_run.id

    value, a_id, b_id, c_id = pipeline()
    assert value == 17
    assert order == ["source", "consumer"]
    runs = {r.id: r for r in recorded.task_runs()}
    inputs = runs[c_id].task_inputs
    assert [i.id for i in inputs["x"]] == [a_id]
    assert [i.id for i in inputs["ys"]] == [b_id]
    assert inputs["x"][0].input_type == "task_run"


def test_wait_for_orders_runs_without_passing_values(recorded: Any) -> None:
    order: list[str] = []

    @task
    def first() -> None:
        time.sleep(0.2)
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    def pipeline() -> Any:
        a = first.submit()
        b = second.submit(wait_for=[a])
        b.wait()
        return a.task_run.id, b.task_run.id

    a_id, b_id = pipeline()
    assert order == ["first", "second"]
    runs = {r.id: r for r in recorded.task_runs()}
    assert [i.id for i in runs[b_id].task_inputs["wait_for"]] == [a_id]


def test_map_with_unmapped(recorded: Any) -> None:
    @flow
    def pipeline() -> Any:
        futures = add.map([1, 2, 3], unmapped(10))
        return futures.result(), add.map(x=range(2), y=[5, 6]).result()

    assert pipeline() == ([11, 12, 13], [5, 7])
    assert len(recorded.task_runs()) == 5


def test_map_over_futures_and_mismatched_lengths() -> None:
    @flow
    def pipeline() -> Any:
        firsts = add.map([1, 2], [1, 1])
        seconds = add.map(firsts, unmapped(100))
        return seconds.result()

    assert pipeline() == [102, 103]

    @flow
    def bad() -> None:
        add.map([1, 2], [1, 2, 3])

    with pytest.raises(ValueError, match="different lengths"):
        bad()


def test_upstream_failure_leaves_downstream_not_ready(recorded: Any) -> None:
    @flow
    def pipeline() -> Any:
        upstream = fail.submit()
        downstream = add.submit(upstream, 1)
        downstream.wait()
        with pytest.raises(UpstreamTaskError, match="fail-0"):
            downstream.result()
        return downstream.state.name, downstream.task_run.id

    state_name, downstream_id = pipeline()
    assert state_name == "NotReady"
    assert recorded.client.read_task_run(downstream_id).state_name == "NotReady"


def test_allow_failure_runs_downstream_anyway() -> None:
    @task
    def describe(value: Any) -> str:
        return type(value).__name__

    @flow
    def pipeline() -> str:
        return describe.submit(allow_failure(fail.submit("x"))).result()

    assert pipeline() == "ValueError"


def test_future_result_raises_the_task_exception_or_returns_it() -> None:
    @flow
    def pipeline() -> Any:
        future = fail.submit("exploded")
        with pytest.raises(ValueError, match="exploded"):
            future.result()
        return future.result(raise_on_failure=False)

    assert isinstance(pipeline(), ValueError)


def test_result_timeout() -> None:
    release = threading.Event()

    @task
    def blocked() -> str:
        release.wait(10)
        return "released"

    @flow
    def pipeline() -> str:
        future = blocked.submit()
        with pytest.raises(TimeoutError):
            future.result(timeout=0.1)
        release.set()
        return future.result(timeout=10)

    assert pipeline() == "released"


def test_wait_and_as_completed() -> None:
    """``as_completed`` yields futures as they finish, not as submitted: each task waits for
    its own event, and the flow releases the next one only once the previous future came
    out. ``wait`` with a timeout returns what is done by then: nothing, here."""
    released = [threading.Event() for _ in range(3)]
    unblock = threading.Event()

    @task
    def when_released(i: int) -> int:
        assert released[i].wait(EVENT_TIMEOUT)
        return i

    @task
    def blocked() -> None:
        assert unblock.wait(EVENT_TIMEOUT)

    @flow
    def pipeline() -> Any:
        futures = [when_released.submit(i) for i in range(3)]
        release_order = [1, 2, 0]
        released[release_order[0]].set()
        order = []
        for future in as_completed(futures):
            order.append(future.result())
            if len(order) < len(release_order):
                released[release_order[len(order)]].set()
        done, not_done = wait([blocked.submit()], timeout=0.1)
        unblock.set()
        return order, len(done), len(not_done)

    order, done, not_done = pipeline()
    assert order == [1, 2, 0]
    assert (done, not_done) == (0, 1)


def test_thread_pool_runs_submitted_tasks_concurrently() -> None:
    """Ten tasks that can only finish together: each waits at a barrier that opens once all
    ten are waiting, which only ten tasks running at the same time can do. (One after
    another, the first would wait alone until the barrier's timeout breaks it.)"""
    together = threading.Barrier(10, timeout=EVENT_TIMEOUT)

    @task
    def meet() -> int:
        return together.wait()  # this task's place in the arrivals, 0 to 9

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=10))
    def pipeline() -> list[int]:
        return [future.result() for future in [meet.submit() for _ in range(10)]]

    assert sorted(pipeline()) == list(range(10))


def test_flow_waits_for_unreturned_submitted_tasks(recorded: Any) -> None:
    @task
    def slow() -> None:
        time.sleep(0.3)

    @flow
    def pipeline() -> Any:
        slow.submit()
        return flow_run_id()

    run_id = pipeline()
    (run,) = recorded.task_runs(run_id)
    assert run.state_type == "COMPLETED"


def test_submit_outside_a_flow(recorded: Any) -> None:
    assert add.submit(2, 3).result() == 5
    (run,) = recorded.task_runs()
    assert run.state_type == "COMPLETED" and run.flow_run_id is None


def test_async_tasks_submitted_to_the_thread_pool() -> None:
    import asyncio

    @task
    async def double(x: int) -> int:
        await asyncio.sleep(0.01)
        return 2 * x

    @flow
    def pipeline() -> list[int]:
        return double.map([1, 2, 3]).result()

    assert pipeline() == [2, 4, 6]


def _cpu_square(x: int) -> int:
    get_run_logger().info("squaring %d", x)
    return x * x


def test_process_pool_runner(recorded: Any) -> None:
    square = task(_cpu_square, name="square")

    def closure_pid() -> int:  # a closure: only cloudpickle can send it
        import os

        return os.getpid()

    pid_task = task(closure_pid, name="pid")

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline() -> Any:
        squares = square.map([1, 2, 3])
        total = add.submit(squares[0], squares[2])
        failed = fail.submit("in a worker")
        return (
            [f.result() for f in squares],
            total.result(),
            pid_task.submit().result(),
            failed.result(raise_on_failure=False),
            flow_run_id(),
        )

    import os

    squares, total, pid, error, run_id = pipeline()
    assert squares == [1, 4, 9] and total == 10
    assert pid != os.getpid()
    assert isinstance(error, ValueError) and str(error) == "in a worker"
    runs = recorded.task_runs(run_id)
    assert len(runs) == 6
    states = sorted(r.state_type for r in runs)
    assert states == ["COMPLETED"] * 5 + ["FAILED"]
    messages = {log.message for log in recorded.logs(run_id)}
    assert {"squaring 1", "squaring 2", "squaring 3"} <= messages
