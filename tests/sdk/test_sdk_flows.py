"""Flows: options, orchestration through the API, hooks, subflows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flowyard import Flow, flow, task
from flowyard.exceptions import FlowTimeout, ParameterValidationError
from flowyard.sdk.context import get_run_context
from flowyard.sdk.states import State


def current_flow_run_id() -> Any:
    ctx = get_run_context()
    return ctx.flow_run.id  # type: ignore[union-attr]


def test_sync_flow_returns_its_value_and_is_recorded_completed(recorded: Any) -> None:
    @flow
    def add(x: int, y: int = 2) -> int:
        return x + y

    state = add(1, return_state=True)
    assert state.is_completed() and state.result() == 3
    assert add(5) == 7
    runs = recorded.flow_runs()
    assert len(runs) == 2
    assert {r.state_type for r in runs} == {"COMPLETED"}
    assert {r.parameters["x"] for r in runs} == {1, 5}
    assert all(r.run_count == 1 and r.start_time and r.end_time for r in runs)


def test_async_flow(recorded: Any) -> None:
    @flow(name="async-one")
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert asyncio.run(double(21)) == 42
    (run,) = recorded.flow_runs()
    assert run.state_type == "COMPLETED"


def test_concurrent_async_flows_on_one_loop(recorded: Any) -> None:
    @flow
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)
        return i

    async def main() -> list[int]:
        return list(await asyncio.gather(*(nap(i) for i in range(5))))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]
    assert len(recorded.flow_runs()) == 5


def test_name_version_description_and_default_name() -> None:
    @flow(version="1.2", description="explicit")
    def my_etl_flow() -> None:
        """Docstring."""

    assert my_etl_flow.name == "my-etl-flow"
    assert my_etl_flow.version == "1.2"
    assert my_etl_flow.description == "explicit"
    assert Flow(lambda: None, name="x").description is None

    @flow
    def documented() -> None:
        """Docstring."""

    assert documented.description == "Docstring."
    assert documented.version  # a hash of the source file
    with pytest.raises(ValueError, match="Invalid flow name"):
        Flow(lambda: None, name="a/b")


def test_flow_run_name_template_and_callable(recorded: Any) -> None:
    @flow(flow_run_name="etl-{day}")
    def templated(day: str) -> str:
        return get_run_context().flow_run.name  # type: ignore[union-attr]

    assert templated("monday") == "etl-monday"

    @flow(flow_run_name=lambda day: f"called-{day}")
    def named_by_callable(day: str) -> None:
        pass

    named_by_callable("tuesday")
    names = {r.name for r in recorded.flow_runs()}
    assert names == {"etl-monday", "called-tuesday"}


def test_parameters_are_validated_and_coerced(recorded: Any) -> None:
    @flow
    def typed(n: int, ratio: float = 1.0) -> tuple[int, float]:
        return n, ratio

    assert typed("3", ratio="0.5") == (3, 0.5)  # type: ignore[arg-type]


def test_bad_parameter_fails_before_the_run_starts(recorded: Any) -> None:
    called = []

    @flow
    def typed(n: int) -> None:
        called.append(n)

    with pytest.raises(ParameterValidationError, match="parameter 'n'") as info:
        typed("not a number")  # type: ignore[arg-type]
    assert "valid integer" in str(info.value)
    with pytest.raises(ParameterValidationError, match="missing a required argument"):
        typed()  # type: ignore[call-arg]
    assert called == []
    assert recorded.flow_runs() == []

    @flow(validate_parameters=False)
    def untyped(n: int) -> Any:
        return n

    assert untyped("x") == "x"  # type: ignore[arg-type]


def test_failed_flow_keeps_the_traceback_in_the_state_message(recorded: Any) -> None:
    @flow
    def broken() -> None:
        helper_that_raises()

    state = broken(return_state=True)
    assert state.is_failed()
    assert isinstance(state.data, ZeroDivisionError)
    (run,) = recorded.flow_runs()
    assert run.state_type == "FAILED"
    message = run.state.message
    assert message.startswith("Flow run encountered an exception ZeroDivisionError")
    assert "Traceback" in message and "helper_that_raises" in message
    assert "flowyard/sdk" not in message  # the engine's own frames are left out
    with pytest.raises(ZeroDivisionError):
        broken()


def helper_that_raises() -> None:
    1 / 0  # noqa: B018


def test_flow_retries_are_decided_by_the_server(recorded: Any) -> None:
    attempts = []

    @flow(retries=2, retry_delay_seconds=0)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    assert flaky() == "ok"
    assert len(attempts) == 3
    (run,) = recorded.flow_runs()
    assert run.state_type == "COMPLETED" and run.run_count == 3
    names = [s.name for s in recorded.client.read_flow_run_states(run.id)]
    assert names.count("AwaitingRetry") == 2


def test_flow_retries_exhausted(recorded: Any) -> None:
    @flow(retries=1)
    def always_fails() -> None:
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError, match="nope"):
        always_fails()
    (run,) = recorded.flow_runs()
    assert run.state_type == "FAILED" and run.run_count == 2


def test_flow_timeout(recorded: Any) -> None:
    import time

    reached: list[bool] = []

    @flow(timeout_seconds=0.2)
    def slow() -> None:
        time.sleep(60)  # interrupted by the timeout: the line after it never runs
        reached.append(True)

    state = slow(return_state=True)
    assert not reached
    assert state.is_failed() and state.name == "TimedOut"
    assert isinstance(state.data, FlowTimeout)
    (run,) = recorded.flow_runs()
    assert run.state_name == "TimedOut"


def test_async_flow_timeout() -> None:
    @flow(timeout_seconds=0.1)
    async def slow() -> None:
        await asyncio.sleep(5)

    state = asyncio.run(slow(return_state=True))
    assert state.name == "TimedOut"


def test_hooks_receive_flow_run_and_state(recorded: Any) -> None:
    calls: list[tuple[str, str, str]] = []

    def hook(kind: str) -> Any:
        def record(f: Any, run: Any, state: State) -> None:
            calls.append((kind, run.name, state.name))

        return record

    @flow(on_running=[hook("running")], on_completion=[hook("completion")],
          on_failure=[hook("failure")])  # fmt: skip
    def fine() -> None:
        pass

    @flow(on_failure=[hook("failure")], on_completion=[hook("completion")])
    def broken() -> None:
        raise ValueError("x")

    fine()
    broken(return_state=True)
    kinds = [c[0] for c in calls]
    assert kinds == ["running", "completion", "failure"]
    assert calls[2][2] == "Failed"


def test_failing_hook_does_not_change_the_state() -> None:
    def bad_hook(*args: Any) -> None:
        raise RuntimeError("hook bug")

    @flow(on_completion=[bad_hook])
    def fine() -> int:
        return 1

    assert fine() == 1


def test_crashed_and_cancelled_hooks(recorded: Any) -> None:
    seen: list[str] = []

    @flow(on_crashed=[lambda f, r, s: seen.append(s.name)])
    def exits() -> None:
        raise SystemExit(3)

    @flow(on_cancellation=[lambda f, r, s: seen.append(s.name)])
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit):
        exits()
    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert seen == ["Crashed", "Cancelled"]
    states = {r.name: (r.state_type, r.state.message) for r in recorded.flow_runs()}
    assert len(states) == 2
    kinds = sorted(kind for kind, _ in states.values())
    assert kinds == ["CANCELLED", "CRASHED"]
    messages = " ".join(message for _, message in states.values())
    assert "sys.exit(3)" in messages and "KeyboardInterrupt" in messages


def test_flow_fails_if_a_returned_future_failed(recorded: Any) -> None:
    @task
    def ok() -> int:
        return 1

    @task
    def bad() -> int:
        raise ValueError("bad task")

    @flow
    def returns_futures() -> Any:
        return [ok.submit(), bad.submit()]

    @flow
    def ignores_failure() -> int:
        bad.submit()
        return 5

    state = returns_futures(return_state=True)
    assert state.is_failed()
    assert "1/2 states failed" in (state.message or "")
    with pytest.raises(ValueError, match="bad task"):
        state.result()
    assert ignores_failure() == 5


def test_returned_futures_are_resolved() -> None:
    @task
    def square(x: int) -> int:
        return x * x

    @flow
    def squares() -> Any:
        return {"values": square.map([1, 2, 3])}

    assert squares() == {"values": [1, 4, 9]}


def test_subflow_is_linked_to_its_parent(recorded: Any) -> None:
    @flow
    def child(x: int) -> int:
        return x * 10

    @flow
    def parent() -> Any:
        return child(4), current_flow_run_id()

    value, parent_id = parent()
    assert value == 40
    runs = {r.name: r for r in recorded.flow_runs()}
    assert len(runs) == 2
    (child_run,) = [r for r in runs.values() if r.id != parent_id]
    assert child_run.parent_task_run_id is not None
    tracking = recorded.client.read_task_run(child_run.parent_task_run_id)
    assert tracking.flow_run_id == parent_id
    assert tracking.state_type == "COMPLETED"


def test_log_prints_captures_print(recorded: Any, capsys: Any) -> None:
    @flow(log_prints=True)
    def chatty() -> Any:
        print("hello from the flow")
        return current_flow_run_id()

    run_id = chatty()
    messages = [log.message for log in recorded.logs(run_id)]
    assert "hello from the flow" in messages
    err = capsys.readouterr().err
    assert "hello from the flow" in err and "Flow run '" in err


def test_print_is_left_alone_without_log_prints(recorded: Any, capsys: Any) -> None:
    @flow
    def quiet() -> Any:
        print("plain print")
        return current_flow_run_id()

    run_id = quiet()
    assert "plain print" in capsys.readouterr().out
    assert "plain print" not in [log.message for log in recorded.logs(run_id)]


def test_with_options() -> None:
    @flow(retries=1)
    def base() -> str:
        return get_run_context().flow.name  # type: ignore[union-attr]

    other = base.with_options(name="renamed", retries=0)
    assert other.name == "renamed" and other.retries == 0 and base.retries == 1
    assert other() == "renamed"
    with pytest.raises(TypeError, match="Unknown flow options"):
        base.with_options(colour="red")
