"""Reporting: batched, coalesced, bounded -- and nothing lost, even when the process ends
badly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowyard import flow, get_run_logger, task
from flowyard.exceptions import ServerUnavailable
from flowyard.sdk.context import get_run_context
from flowyard.sdk.engine import api
from flowyard.sdk.reporting import Reporter
from flowyard.sdk.states import Completed, Running
from flowyard.sdk.tasks import TaskRun


@task
def inc(x: int) -> int:
    return x + 1


def test_five_thousand_tasks_are_all_recorded_with_final_states(recorded: Any) -> None:
    @task
    def maybe_fail(i: int) -> int:
        if i % 1000 == 999:
            raise ValueError(i)
        return i

    @flow
    def many() -> Any:
        for i in range(4000):
            inc(i)
        futures = maybe_fail.map(range(1000))
        for future in futures:
            future.wait()
        return get_run_context().flow_run.id  # type: ignore[union-attr]

    run_id = many()
    # No extra flush here: the flow itself must have recorded everything before returning.
    count = recorded.client.count_task_runs()
    assert count == 5000
    runs = recorded.task_runs(run_id)
    assert len(runs) == 5000
    states = [r.state_type for r in runs]
    assert states.count("COMPLETED") == 4999 and states.count("FAILED") == 1
    assert all(r.run_count == 1 and r.end_time is not None for r in runs)


class SpySink:
    def __init__(self, delay: float = 0.0) -> None:
        self.report_batches: list[list[dict[str, Any]]] = []
        self.log_batches: list[list[dict[str, Any]]] = []
        self.delay = delay

    def report_task_runs(self, reports: list[dict[str, Any]]) -> None:
        time.sleep(self.delay)
        self.report_batches.append(reports)

    def create_logs(self, logs: list[dict[str, Any]]) -> None:
        self.log_batches.append(logs)


def make_run(i: int) -> TaskRun:
    import uuid

    return TaskRun(id=uuid.uuid4(), name=f"t-{i}", task_key="t", dynamic_key=str(i))


def test_updates_of_one_run_are_coalesced_into_one_report() -> None:
    sink = SpySink()
    reporter = Reporter(sink, interval=60, register_atexit=False)
    runs = [make_run(i) for i in range(100)]
    for run in runs:
        run.run_count = 1
        run.start_time = time.time()
        reporter.report_task_run(run, Running())
        run.end_time = time.time()
        reporter.report_task_run(run, Completed())
    assert reporter.flush(timeout=10)
    reports = [r for batch in sink.report_batches for r in batch]
    assert len(reports) == 100
    assert {(r["state_type"], r["state_name"]) for r in reports} == {("COMPLETED", "Completed")}
    first = reports[0]
    assert first["id"] == runs[0].id and first["run_count"] == 1
    assert first["start_time"] <= first["end_time"]
    # Nothing persisted the result: the state says so, as the official client's does.
    assert first["state_details"] == {"untrackable_result": True}
    # The state it passed through is still told, so the server can announce its event.
    assert [p["type"] for p in first["passed_states"]] == ["RUNNING"]
    assert first["passed_states"][0]["timestamp"] <= first["state_timestamp"].timestamp()
    reporter.close()


def test_reports_are_valid_for_the_api() -> None:
    from flowyard.schemas.task_run_reports import TASK_RUN_REPORTS

    sink = SpySink()
    reporter = Reporter(sink, interval=60, register_atexit=False)
    run = make_run(0)
    run.tags = frozenset({"b", "a"})
    reporter.report_task_run(run, Running())
    reporter.flush(timeout=10)
    reporter.report_task_run(run, Completed())
    reporter.flush(timeout=10)
    running, completed = TASK_RUN_REPORTS.validate_python([b[0] for b in sink.report_batches])
    assert running["state_type"] == "RUNNING" and completed["state_type"] == "COMPLETED"
    assert running["state_timestamp"] <= completed["state_timestamp"]
    assert completed["tags"] == ["a", "b"]
    reporter.close()


def test_backpressure_bounds_the_queue_and_loses_nothing() -> None:
    sink = SpySink(delay=0.05)
    reporter = Reporter(sink, interval=0.01, max_pending=50, register_atexit=False)
    high_water = 0
    for i in range(3000):
        reporter.report_task_run(make_run(i), Completed())
        high_water = max(high_water, len(reporter._queue))
    assert reporter.flush(timeout=30)
    assert high_water <= 60  # 50 plus what other threads may add while one waits
    assert sum(len(b) for b in sink.report_batches) == 3000
    reporter.close()


def test_a_failing_sink_is_retried() -> None:
    class FlakySink(SpySink):
        failures = 2

        def report_task_runs(self, reports: list[dict[str, Any]]) -> None:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("server hiccup")
            super().report_task_runs(reports)

    sink = FlakySink()
    reporter = Reporter(sink, interval=60, register_atexit=False)
    reporter.report_task_run(make_run(0), Completed())
    assert reporter.flush(timeout=10)
    assert len(sink.report_batches) == 1 and reporter.dropped == 0
    reporter.close()


def test_logs_are_batched_never_one_request_per_line(recorded: Any) -> None:
    @flow
    def noisy() -> Any:
        logger = get_run_logger()
        for i in range(500):
            logger.info("line %d", i)
        return get_run_context().flow_run.id  # type: ignore[union-attr]

    sink_calls: list[int] = []
    run_id = noisy()
    engine_api = api.get_api()
    original = engine_api.client.create_logs

    def counting(batch: Any) -> None:
        sink_calls.append(len(batch))
        original(batch)

    engine_api.client.create_logs = counting  # type: ignore[method-assign]
    second_run_id = noisy()
    recorded.flush()
    # How many batches depends on how fast the lines come (the reporter also flushes on
    # a timer), so the claim is the ratio: hundreds of lines ride in a handful of requests.
    assert sum(sink_calls) >= 500
    assert len(sink_calls) <= sum(sink_calls) / 25, sink_calls
    for one_run in (run_id, second_run_id):
        messages = [log.message for log in recorded.logs(one_run)]
        assert [f"line {i}" for i in range(500)] == [m for m in messages if m.startswith("line")]


def test_unreachable_server_is_one_clear_error_before_user_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWYARD_API_URL", f"http://127.0.0.1:{closed_port()}/api")
    ran: list[int] = []

    @flow
    def never() -> None:
        ran.append(1)

    with pytest.raises(ServerUnavailable) as info:
        never()
    assert ran == []
    message = str(info.value)
    assert "Cannot reach the Flowyard API at http://127.0.0.1:" in message
    assert "flowyard server start" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it once the socket is closed


# -- the process ends: nothing recorded is lost ------------------------------------------


def run_script(home: Path, body: str, *, wait: bool = True, **popen: Any) -> Any:
    env = {**os.environ, "FLOWYARD_HOME": str(home)}
    env.pop("FLOWYARD_API_URL", None)
    script = textwrap.dedent(body)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    if wait:
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return proc


def test_tasks_outside_flows_are_flushed_at_interpreter_exit(
    flowyard_home: Path, recorded: Any
) -> None:
    proc = run_script(
        flowyard_home,
        """
        from flowyard import task

        @task
        def square(x):
            return x * x

        for i in range(300):
            square(i)
        """,
    )
    assert proc.returncode == 0
    assert recorded.client.count_task_runs() == 300


def test_a_crashing_script_still_records_its_runs_and_logs(
    flowyard_home: Path, recorded: Any
) -> None:
    proc = run_script(
        flowyard_home,
        """
        from flowyard import flow, task, get_run_logger

        @task
        def step(i):
            get_run_logger().info("step %d", i)
            return i

        @flow
        def doomed():
            for i in range(50):
                step(i)
            raise RuntimeError("the flow fails")

        doomed()
        """,
    )
    assert proc.returncode == 1
    assert "RuntimeError: the flow fails" in proc.stderr
    (run,) = recorded.flow_runs()
    assert run.state_type == "FAILED"
    assert recorded.client.count_task_runs() == 50
    messages = {log.message for log in recorded.logs()}
    assert {f"step {i}" for i in range(50)} <= messages
    assert any(m.startswith("Finished in state Failed") for m in messages)


def test_ctrl_c_cancels_the_flow_and_keeps_finished_tasks(
    flowyard_home: Path, recorded: Any
) -> None:
    proc = run_script(
        flowyard_home,
        """
        import time, sys
        from flowyard import flow, task

        @task
        def quick(i):
            return i

        @task
        def slow():
            time.sleep(60)

        @flow
        def interrupted():
            for i in range(20):
                quick(i)
            print("ready", flush=True)
            slow()

        interrupted()
        """,
        wait=False,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    (run,) = recorded.flow_runs()
    assert run.state_type == "CANCELLED"
    task_runs = recorded.task_runs()
    assert len(task_runs) == 21
    assert sorted({r.state_type for r in task_runs}) == ["CANCELLED", "COMPLETED"]


def test_sigterm_crashes_the_flow_and_keeps_finished_tasks(
    flowyard_home: Path, recorded: Any
) -> None:
    proc = run_script(
        flowyard_home,
        """
        import time
        from flowyard import flow, task

        @task
        def quick(i):
            return i

        @flow
        def terminated():
            for i in range(10):
                quick(i)
            print("ready", flush=True)
            time.sleep(60)

        terminated()
        """,
        wait=False,
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    (run,) = recorded.flow_runs()
    assert run.state_type == "CRASHED" and "SIGTERM" in run.state.message
    assert recorded.client.count_task_runs() == 10


def test_reporter_thread_survives_concurrent_producers() -> None:
    sink = SpySink()
    reporter = Reporter(sink, interval=0.01, register_atexit=False)

    def produce(offset: int) -> None:
        for i in range(1000):
            reporter.report_task_run(make_run(offset + i), Completed())

    threads = [threading.Thread(target=produce, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reporter.flush(timeout=30)
    assert sum(len(b) for b in sink.report_batches) == 8000
    reporter.close()


def test_ctrl_c_cancels_queued_submitted_runs(
    flowyard_home: Path, recorded: Any, tmp_path: Path
) -> None:
    """Ctrl-C while the first of six submitted tasks runs: the five still queued never start
    (each task says when it starts; the first one is held until after the Ctrl-C)."""
    release = tmp_path / "release"
    proc = run_script(
        flowyard_home,
        """
        import os
        import sys
        import time
        from flowyard import flow, task, ThreadPoolTaskRunner

        @task
        def nap(i):
            sys.stdout.write(f"started {i}\\n")  # one write: lines never interleave
            sys.stdout.flush()
            while not os.path.exists(RELEASE):
                time.sleep(0.01)
            return i

        @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
        def queued():
            futures = [nap.submit(i) for i in range(6)]
            sys.stdout.write("submitted\\n")
            sys.stdout.flush()
            return [f.result() for f in futures]

        queued()
        """.replace("RELEASE", repr(str(release))),
        wait=False,
    )
    # All six submitted and the first one running (in either order), then Ctrl-C.
    first_lines = {proc.stdout.readline().strip() for _ in range(2)}
    assert first_lines == {"submitted", "started 0"}
    proc.send_signal(signal.SIGINT)
    # The flow run is recorded Cancelled once the interrupt was handled (the queue dropped);
    # only then does the first task finish, so nothing can pick a queued one up meanwhile.
    deadline = time.monotonic() + 120
    while [r.state_type for r in recorded.flow_runs()] != ["CANCELLED"]:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    release.touch()
    out, err = proc.communicate(timeout=120)
    assert "started" not in out, (out, err)  # none of the queued five ever started
    states = sorted(r.state_type for r in recorded.task_runs())
    assert len(states) == 6
    assert states.count("CANCELLED") >= 5 and set(states) <= {"CANCELLED", "COMPLETED"}
