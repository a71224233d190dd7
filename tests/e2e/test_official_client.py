"""The official ``prefect==3.9.1`` client runs a real flow against the server under test.

The flow exercises what the client does over the wire (see shared/reference/client-trace.md):
flow runs orchestrated over REST, task runs reported only as events over ``/api/events/in``,
a subflow with its REST-created wrapper task run, retries, and logs in batches. Everything is
then checked through the server's own REST API, in Prefect's wire shapes.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from packaging.version import Version

pytestmark = pytest.mark.e2e

FLOW_TIMEOUT = 180.0
# Task runs reach the database asynchronously (events -> recorder), and so may logs.
POLL_TIMEOUT = 15.0

T = TypeVar("T")

FLOW_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from prefect import flow, get_run_logger, task
    from prefect.runtime import flow_run

    PARENT, CHILD, MARKER, OUT = sys.argv[1:5]
    ATTEMPTS = {"transform": 0}


    @task
    def extract() -> list[int]:
        return [1, 2, 3]


    @task(retries=1, retry_delay_seconds=0)
    def transform(xs: list[int]) -> list[int]:
        ATTEMPTS["transform"] += 1
        if ATTEMPTS["transform"] == 1:
            raise ValueError("fails on the first attempt only")
        return [x * 2 for x in xs]


    @task
    def load(xs: list[int]) -> int:
        return sum(xs)


    @task
    def square(n: int) -> int:
        return n * n


    @flow(name=CHILD)
    def child(n: int) -> int:
        return n + 1


    @flow(name=PARENT, log_prints=True)
    def parent() -> dict:
        get_run_logger().info(f"logger line {MARKER}")
        print(f"printed line {MARKER}")
        total = load(transform(extract()))
        squared = square.submit(total).result()
        return {"flow_run_id": flow_run.id, "result": child(squared)}


    if __name__ == "__main__":
        with open(OUT, "w") as out:
            json.dump(parent(), out)
    """
)


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = POLL_TIMEOUT) -> T:
    """Call ``fetch`` until ``done`` holds or ``timeout`` passes; return the last value."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.25)
        value = fetch()
    return value


def post_json(api: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = api.post(path, json=body)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


def run_flow_script(
    prefect_python: Path, env: dict[str, str], workdir: Path, args: list[str]
) -> subprocess.CompletedProcess[str]:
    script = workdir / "e2e_flow.py"
    script.write_text(FLOW_SCRIPT)
    return subprocess.run(
        [str(prefect_python), str(script), *args],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=FLOW_TIMEOUT,
    )


def test_flow_with_tasks_retries_submit_subflow_and_logs(
    prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client, tmp_path: Path
) -> None:
    # Unique names so the assertions hold on a shared (PostgreSQL) database too.
    suffix = uuid.uuid4().hex[:8]
    parent_name, child_name, marker = f"e2e-parent-{suffix}", f"e2e-child-{suffix}", suffix
    out = tmp_path / "result.json"

    proc = run_flow_script(
        prefect_python, prefect_client_env, tmp_path, [parent_name, child_name, marker, str(out)]
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["result"] == (2 + 4 + 6) ** 2 + 1
    parent_id = result["flow_run_id"]

    # Flow runs: the parent and the subflow, both COMPLETED.
    flow_runs = post_json(
        api, "/flow_runs/filter", {"flows": {"name": {"any_": [parent_name, child_name]}}}
    )
    assert len(flow_runs) == 2, flow_runs
    by_id = {run["id"]: run for run in flow_runs}
    assert parent_id in by_id
    parent = by_id.pop(parent_id)
    (child,) = by_id.values()
    assert parent["parent_task_run_id"] is None
    assert child["parent_task_run_id"] is not None
    for run in (parent, child):
        assert run["state_type"] == "COMPLETED", run
        assert run["state"]["type"] == "COMPLETED", run

    # Task runs of the parent: four tasks plus the subflow's wrapper task run. They arrive as
    # events, so wait for all of them to be recorded in their final state.
    def fetch_task_runs() -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [parent_id]}}}
        runs: list[dict[str, Any]] = post_json(api, "/task_runs/filter", body)
        return runs

    task_runs = poll(
        fetch_task_runs,
        lambda runs: len(runs) >= 5 and all(r["state_type"] == "COMPLETED" for r in runs),
    )
    assert len(task_runs) == 5, [(r["name"], r["state_type"]) for r in task_runs]
    # task_key is "<python function name>-<hash>", chosen by the client; the subflow's
    # wrapper task run is keyed by the subflow function ("child"), not by the flow name.
    by_key = {run["task_key"].rsplit("-", 1)[0]: run for run in task_runs}
    assert sorted(by_key) == sorted(["extract", "transform", "load", "square", "child"]), [
        (r["name"], r["task_key"]) for r in task_runs
    ]
    for run in task_runs:
        assert run["flow_run_id"] == parent_id
        assert run["state_type"] == "COMPLETED", (run["name"], run["state_type"])
        assert run["state"]["type"] == "COMPLETED", run
    assert by_key["transform"]["run_count"] == 2
    for name in ("extract", "load", "square"):
        assert by_key[name]["run_count"] == 1, by_key[name]
    # The subflow hangs off the parent through its wrapper task run.
    assert child["parent_task_run_id"] == by_key["child"]["id"]

    # Logs: the printed line (log_prints=True) and the get_run_logger() line.
    wanted = {f"printed line {marker}", f"logger line {marker}"}

    def fetch_messages() -> set[str]:
        body = {"logs": {"flow_run_id": {"any_": [parent_id]}}, "limit": 200}
        return {log["message"] for log in post_json(api, "/logs/filter", body)}

    messages = poll(fetch_messages, lambda found: wanted <= found)
    assert wanted <= messages, messages


def test_version_and_csrf_handshake(api: httpx.Client) -> None:
    # The client refuses another major version and warns on an older 3.x.
    response = api.get("/admin/version")
    assert response.status_code == 200
    version = response.json()
    assert isinstance(version, str)
    assert Version("3.9.1") <= Version(version) < Version("4"), version

    # 422 with this detail makes the client switch CSRF tokens off for its session.
    response = api.get("/csrf-token", params={"client": "x"})
    assert response.status_code == 422
    assert response.json() == {"detail": "CSRF protection is disabled."}
