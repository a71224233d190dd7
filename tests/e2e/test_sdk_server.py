"""The SDK against a real ``flowyard server start`` process, over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("sdk-e2e")
    port = _free_port()
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(FLOWYARD), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(FLOWYARD_HOME=str(workdir / "server-home")),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (workdir / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become healthy"
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def run_script(body: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)],
        env=_env(FLOWYARD_HOME=str(tmp_path / "client-home"), **env),
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
    port = _free_port()
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
