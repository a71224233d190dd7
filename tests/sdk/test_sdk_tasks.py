"""Tasks: retries, timeouts, names, tags, hooks, nesting -- orchestrated in process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from flowyard import exponential_backoff, flow, get_run_logger, task
from flowyard.exceptions import TaskTimeout
from flowyard.sdk.context import get_run_context
from flowyard.sdk.engine.task_engine import retry_delay
from flowyard.sdk.states import State
from flowyard.sdk.tasks import Task


def flow_run_id() -> Any:
    return get_run_context().flow_run.id  # type: ignore[union-attr]


def test_task_call_returns_value_and_is_recorded(recorded: Any) -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @flow
    def pipeline() -> Any:
        return add(1, 2), add(3, y=4), flow_run_id()

    a, b, run_id = pipeline()
    assert (a, b) == (3, 7)
    runs = sorted(recorded.task_runs(run_id), key=lambda r: r.name)
    assert [r.name for r in runs] == ["add-0", "add-1"]
    for run in runs:
        assert run.state_type == "COMPLETED" and run.run_count == 1
        assert run.start_time and run.end_time and run.end_time >= run.start_time
        assert run.task_key.startswith("test_task_call_returns_value_and_is_recorded.")


def test_task_outside_a_flow_is_recorded(recorded: Any) -> None:
    @task
    def alone(x: int) -> int:
        return x * 2

    assert alone(4) == 8
    (run,) = recorded.task_runs()
    assert run.flow_run_id is None and run.state_type == "COMPLETED"


def test_async_task(recorded: Any) -> None:
    @task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    @flow
    async def pipeline() -> int:
        return await fetch(1) + await fetch(2)

    assert asyncio.run(pipeline()) == 5
    assert {r.state_type for r in recorded.task_runs()} == {"COMPLETED"}


def test_retries_then_success(recorded: Any) -> None:
    attempts: list[int] = []

    @task(retries=3, retry_delay_seconds=[0, 0.01])
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @flow
    def pipeline() -> Any:
        return flaky(), flow_run_id()

    value, run_id = pipeline()
    assert value == "ok" and len(attempts) == 3
    (run,) = recorded.task_runs(run_id)
    assert run.state_type == "COMPLETED" and run.run_count == 3
    assert run.empirical_policy.retries == 3


def test_async_task_retries_until_it_succeeds(recorded: Any) -> None:
    """Catches the planted bug "async tasks never retry": the async loop is its own code
    (``run_async``), so the sync retry tests above say nothing about it."""
    attempts: list[int] = []

    @task(retries=2)
    async def flaky() -> str:
        attempts.append(1)
        await asyncio.sleep(0)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @flow
    async def pipeline() -> Any:
        return await flaky(), flow_run_id()

    value, run_id = asyncio.run(pipeline())
    assert value == "ok" and len(attempts) == 3
    (run,) = recorded.task_runs(run_id)
    assert (run.state_type, run.run_count) == ("COMPLETED", 3)


def test_async_task_retries_are_bounded(recorded: Any) -> None:
    """An async task failing every time runs 1 + retries times, then its failure is final."""
    attempts: list[int] = []

    @task(retries=2)
    async def broken() -> None:
        attempts.append(1)
        raise ConnectionError(f"attempt {len(attempts)}")

    @flow
    async def pipeline() -> Any:
        state = await broken(return_state=True)
        return state.is_failed(), str(state.data), flow_run_id()

    failed, error, run_id = asyncio.run(pipeline())
    assert failed and error == "attempt 3"
    assert len(attempts) == 3
    (run,) = recorded.task_runs(run_id)
    assert (run.state_type, run.run_count) == ("FAILED", 3)


def test_retries_exhausted_raise_the_last_exception(recorded: Any) -> None:
    @task(retries=1)
    def broken() -> None:
        raise ValueError("always")

    @flow
    def pipeline() -> None:
        broken()

    state = pipeline(return_state=True)
    assert state.is_failed() and isinstance(state.data, ValueError)
    (run,) = recorded.task_runs()
    assert run.state_type == "FAILED" and run.run_count == 2
    assert "ValueError: always" in run.state.message and "Traceback" in run.state.message


def test_retry_condition_fn_can_stop_retries(recorded: Any) -> None:
    attempts: list[int] = []

    def only_connection_errors(t: Task[..., Any], run: Any, state: State) -> bool:
        return isinstance(state.data, ConnectionError)

    @task(retries=5, retry_condition_fn=only_connection_errors)
    def picky() -> None:
        attempts.append(1)
        raise ValueError("not retriable")

    with pytest.raises(ValueError):
        picky()
    assert len(attempts) == 1


def test_retry_delays_number_list_backoff_and_jitter() -> None:
    def make(**options: Any) -> Task[..., Any]:
        return task(lambda: None, **options)  # type: ignore[call-overload, no-any-return]

    assert retry_delay(make(retries=3, retry_delay_seconds=2), 2) == 2
    listed = make(retries=3, retry_delay_seconds=[1, 5])
    assert [retry_delay(listed, i) for i in range(3)] == [1, 5, 5]
    backoff = make(retries=4, retry_delay_seconds=exponential_backoff(backoff_factor=0.5))
    assert [retry_delay(backoff, i) for i in range(4)] == [0.5, 1, 2, 4]
    jittered = make(retries=1, retry_delay_seconds=10, retry_jitter_factor=0.5)
    delays = {retry_delay(jittered, 0) for _ in range(200)}
    assert min(delays) >= 5 and max(delays) <= 15 and len(delays) > 100


def test_retry_waits_between_attempts() -> None:
    times: list[float] = []

    @task(retries=1, retry_delay_seconds=0.3)
    def slow_retry() -> None:
        times.append(time.monotonic())
        if len(times) == 1:
            raise RuntimeError("first")

    slow_retry()
    assert times[1] - times[0] >= 0.3


def test_timeout_fails_the_run_timed_out(recorded: Any) -> None:
    reached: list[bool] = []

    @task(timeout_seconds=0.2)
    def sleepy() -> None:
        time.sleep(60)  # interrupted by the timeout: the line after it never runs
        reached.append(True)

    @flow
    def pipeline() -> Any:
        state = sleepy(return_state=True)
        return state.name, state.data

    name, error = pipeline()
    assert not reached
    assert name == "TimedOut" and isinstance(error, TaskTimeout)
    (run,) = recorded.task_runs()
    assert (run.state_type, run.state_name) == ("FAILED", "TimedOut")


def test_timeout_in_a_worker_thread(recorded: Any) -> None:
    reached: list[bool] = []

    @task(timeout_seconds=0.2)
    def spin() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pass
        reached.append(True)  # only if the loop was not interrupted

    @flow
    def pipeline() -> Any:
        future = spin.submit()
        future.wait()  # the run's final state is set in the worker thread, after the loop
        return future.state.name

    assert pipeline() == "TimedOut"
    assert not reached


def test_async_task_timeout() -> None:
    @task(timeout_seconds=0.1)
    async def sleepy() -> None:
        await asyncio.sleep(5)

    state = asyncio.run(sleepy(return_state=True))
    assert state.name == "TimedOut"


def test_timed_out_task_can_be_retried() -> None:
    calls: list[int] = []

    @task(timeout_seconds=0.2, retries=1)
    def sometimes_slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(2)
        return "done"

    assert sometimes_slow() == "done" and len(calls) == 2


def test_tags_and_run_names(recorded: Any) -> None:
    @task(tags=["etl", "db"], task_run_name="load-{table}")
    def load(table: str) -> str:
        return get_run_context().task_run.name  # type: ignore[union-attr]

    @task(task_run_name=lambda table: f"fn-{table}")
    def by_callable(table: str) -> None:
        pass

    @flow
    def pipeline() -> str:
        by_callable("b")
        return load("users")

    assert pipeline() == "load-users"
    runs = {r.name: r for r in recorded.task_runs()}
    assert set(runs) == {"load-users", "fn-b"}
    assert sorted(runs["load-users"].tags) == ["db", "etl"]


def test_task_hooks(recorded: Any) -> None:
    seen: list[tuple[str, str]] = []

    def hook(kind: str) -> Any:
        return lambda t, run, state: seen.append((kind, state.name))

    @task(on_running=[hook("running")], on_completion=[hook("completion")])
    def fine() -> None:
        pass

    @task(on_failure=[hook("failure")])
    def broken() -> None:
        raise RuntimeError("x")

    @flow
    def pipeline() -> None:
        fine()
        broken(return_state=True)

    pipeline()
    assert seen == [("running", "Running"), ("completion", "Completed"), ("failure", "Failed")]


def test_tasks_calling_tasks_record_their_parent(recorded: Any) -> None:
    @task
    def inner(x: int) -> int:
        return x + 1

    @task
    def outer(x: int) -> int:
        return inner(x) * 2

    @flow
    def pipeline() -> int:
        return outer(1)

    assert pipeline() == 4
    runs = {r.name: r for r in recorded.task_runs()}
    parents = runs["inner-0"].task_inputs["__parents__"]
    assert [p.id for p in parents] == [runs["outer-0"].id]


def test_get_run_logger_in_a_task(recorded: Any) -> None:
    @task
    def talk() -> None:
        get_run_logger().warning("careful: %s", "hot")

    @flow
    def pipeline() -> Any:
        talk()
        return flow_run_id()

    run_id = pipeline()
    (task_run,) = recorded.task_runs(run_id)
    logs = [log for log in recorded.logs(run_id) if log.message == "careful: hot"]
    assert len(logs) == 1
    assert logs[0].task_run_id == task_run.id and logs[0].level == 30
    assert logs[0].name == "flowyard.task_runs"


def test_task_log_prints_inherits_from_the_flow(recorded: Any, capsys: Any) -> None:
    @task
    def inherits() -> None:
        print("from task")

    @task(log_prints=False)
    def opts_out() -> None:
        print("raw print")

    @flow(log_prints=True)
    def pipeline() -> Any:
        inherits()
        opts_out()
        return flow_run_id()

    run_id = pipeline()
    messages = [log.message for log in recorded.logs(run_id)]
    assert "from task" in messages and "raw print" not in messages
    assert "raw print" in capsys.readouterr().out


def test_keyboard_interrupt_in_a_task_cancels_and_is_recorded(recorded: Any) -> None:
    @task
    def interrupted() -> None:
        raise KeyboardInterrupt

    @flow
    def pipeline() -> None:
        interrupted()

    with pytest.raises(KeyboardInterrupt):
        pipeline()
    (task_run,) = recorded.task_runs()
    assert task_run.state_type == "CANCELLED"
    assert "KeyboardInterrupt" in task_run.state.message
    (flow_run,) = recorded.flow_runs()
    assert flow_run.state_type == "CANCELLED"


def test_system_exit_in_a_task_crashes_the_run(recorded: Any) -> None:
    @task
    def exits() -> None:
        raise SystemExit(2)

    @flow
    def pipeline() -> None:
        exits()

    with pytest.raises(SystemExit):
        pipeline()
    (task_run,) = recorded.task_runs()
    assert task_run.state_type == "CRASHED" and "sys.exit(2)" in task_run.state.message
    assert recorded.flow_runs()[0].state_type == "CRASHED"


def test_returning_a_state_sets_the_final_state() -> None:
    from flowyard.sdk.states import Failed

    @task
    def decides() -> State:
        return Failed(message="decided to fail")

    state = decides(return_state=True)
    assert state.is_failed() and state.message == "decided to fail"


def test_task_with_options_and_binding_errors() -> None:
    @task(retries=2)
    def base(x: int, *rest: int, **extra: int) -> int:
        return x + sum(rest) + sum(extra.values())

    assert base(1, 2, 3, a=4) == 10
    assert base.with_options(retries=0).retries == 0
    with pytest.raises(TypeError):
        base()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="Unknown task options"):
        base.with_options(colour="red")


def test_result_seam_can_answer_from_a_cache_and_persist_results(recorded: Any) -> None:
    from flowyard.sdk.states import Cached

    class DictCache:
        """A stand-in for the caching layer: the engine's two plug-in points."""

        def __init__(self) -> None:
            self.store: dict[Any, Any] = {}

        def lookup(self, t: Task[..., Any], run: Any, parameters: dict[str, Any]) -> Any:
            key = tuple(sorted(parameters.items()))
            if key in self.store:
                return Cached(data=self.store[key])
            return None

        def persist(
            self, t: Task[..., Any], run: Any, parameters: dict[str, Any], state: State
        ) -> State:
            self.store[tuple(sorted(parameters.items()))] = state.data
            return state

    calls: list[int] = []

    @task
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 100

    expensive.result_seam = DictCache()

    @flow
    def pipeline() -> list[int]:
        return [expensive(1), expensive(1), expensive(2)]

    assert pipeline() == [100, 100, 200]
    assert calls == [1, 2]
    names = sorted(r.state_name for r in recorded.task_runs())
    assert names == ["Cached", "Completed", "Completed"]
