"""The SDK against a real ``flowyard server start`` process, over HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowyard.testing.server_process import clean_env, free_port, server_process

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server_process(tmp_path_factory.mktemp("sdk-e2e") / "server-home") as url:
        yield url


def run_script(body: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)],
        env=clean_env(FLOWYARD_HOME=str(tmp_path / "client-home"), **env),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_five_thousand_task_runs_reach_the_server(api_url: str, tmp_path: Path) -> None:
    result = run_script(
        """
        from flowyard import flow, task, get_run_context

        @task
        def inc(x):
            return x + 1

        @task
        def fails_on_7(i):
            if i == 7:
                raise ValueError("seven")
            return i

        @flow
        def big():
            for i in range(4000):
                inc(i)
            for future in fails_on_7.map(range(1000)):
                future.wait()
            return str(get_run_context().flow_run.id)

        print(big())
        """,
        tmp_path,
        FLOWYARD_API_URL=api_url,
        FLOWYARD_LOGGING_LEVEL="WARNING",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    flow_run_id = result.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=api_url, timeout=30) as client:
        run = client.get(f"/flow_runs/{flow_run_id}").json()
        assert run["state_type"] == "COMPLETED"
        by_run = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
        assert client.post("/task_runs/count", json=by_run).json() == 5000
        failed = {**by_run, "task_runs": {"state": {"type": {"any_": ["FAILED"]}}}}
        assert client.post("/task_runs/count", json=failed).json() == 1
        done = {**by_run, "task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
        assert client.post("/task_runs/count", json=done).json() == 4999


def test_logs_and_states_of_a_failing_flow_reach_the_server(api_url: str, tmp_path: Path) -> None:
    result = run_script(
        """
        from flowyard import flow, task, get_run_logger

        @task(retries=1)
        def flaky(marker):
            get_run_logger().info("attempt for %s", marker)
            raise RuntimeError("still broken")

        @flow(name="e2e-failing")
        def failing():
            flaky("e2e-marker")

        failing()
        """,
        tmp_path,
        FLOWYARD_API_URL=api_url,
    )
    assert result.returncode == 1
    assert "RuntimeError: still broken" in result.stderr
    with httpx.Client(base_url=api_url, timeout=30) as client:
        flows = client.post("/flows/filter", json={"flows": {"name": {"any_": ["e2e-failing"]}}})
        (flow_row,) = flows.json()
        runs = client.post("/flow_runs/filter", json={"flows": {"id": {"any_": [flow_row["id"]]}}})
        (run,) = runs.json()
        assert run["state_type"] == "FAILED"
        assert "still broken" in run["state"]["message"]
        (task_run,) = client.post(
            "/task_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}}
        ).json()
        assert task_run["state_type"] == "FAILED" and task_run["run_count"] == 2
        logs = client.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}})
        messages = [log["message"] for log in logs.json()]
        assert messages.count("attempt for e2e-marker") == 2


def test_unreachable_server_fails_before_user_code(tmp_path: Path) -> None:
    port = free_port()
    result = run_script(
        """
        from flowyard import flow

        @flow
        def never():
            print("USER CODE RAN")

        never()
        """,
        tmp_path,
        FLOWYARD_API_URL=f"http://127.0.0.1:{port}/api",
    )
    assert result.returncode == 1
    assert "USER CODE RAN" not in result.stdout
    assert f"Cannot reach the Flowyard API at http://127.0.0.1:{port}/api" in result.stderr
    # One error, not a chain of httpx internals.
    assert "During handling of the above exception" not in result.stderr
    assert "The above exception was the direct cause" not in result.stderr
