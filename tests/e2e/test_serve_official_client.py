"""The official ``prefect==3.9.1`` client against Flowyard's deployments API:
``flow.from_source(dir, ...).deploy(...)`` to a process pool and ``prefect deployment run``
create what Flowyard's API and CLI then show, and the official ``flow.serve()`` executes a
run requested with ``prefect deployment run`` and pauses its deployment on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

DEADLINE = 120.0
FLOW_FILE = """
import sys
from prefect import flow

@flow(log_prints=True)
def hello(name: str = "world", n: int = 1) -> int:
    print(f"hi {name} {n}")
    return n

if __name__ == "__main__":
    if sys.argv[1] == "deploy":
        flow.from_source(".", "hello.py:hello").deploy(
            "official", work_pool_name=sys.argv[2], build=False, push=False,
            parameters={"n": 3}, cron="0 3 * * *",
        )
    else:
        hello.serve(name="official-serve", parameters={"n": 5})
"""


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


def prefect(python: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(python.parent / "prefect"), *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_official_deploy_and_deployment_run(
    tmp_path: Path, prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client,
    server_api_url: str,
) -> None:  # fmt: skip
    (tmp_path / "hello.py").write_text(FLOW_FILE)
    env = prefect_client_env
    prefect(
        prefect_python, env, tmp_path, "work-pool", "create", "official-pool", "--type", "process"
    )
    done = subprocess.run(
        [str(prefect_python), "hello.py", "deploy", "official-pool"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = api.get("/deployments/name/hello/official").json()
    assert deployment["work_pool_name"] == "official-pool"
    assert deployment["work_queue_name"] == "default" and deployment["work_queue_id"]
    assert deployment["entrypoint"] == "hello.py:hello"
    assert deployment["parameters"] == {"n": 3}
    step = deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]
    assert Path(step["directory"]).resolve() == tmp_path.resolve()
    assert deployment["schedules"][0]["schedule"]["cron"] == "0 3 * * *"
    schema = deployment["parameter_openapi_schema"]["properties"]
    assert schema["n"]["type"] == "integer"

    out = prefect(
        prefect_python, env, tmp_path, "deployment", "run", "hello/official", "--param", "name=zed"
    )
    assert "Created flow run" in out
    body = {
        "flow_runs": {
            "deployment_id": {"any_": [deployment["id"]]},
            "state": {"type": {"any_": ["SCHEDULED"]}},
        },
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 1,
    }
    run = api.post("/flow_runs/filter", json=body).json()[0]
    assert run["parameters"] == {"n": 3, "name": "zed"} and not run["auto_scheduled"]
    assert run["work_queue_id"] == deployment["work_queue_id"]
    # What Flowyard's own CLI shows of the official client's deployment.
    flowyard = Path(sys.executable).parent / "flowyard"
    shown = subprocess.run(
        [str(flowyard), "deployment", "inspect", "hello/official"],
        env={**os.environ, "FLOWYARD_API_URL": server_api_url}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0 and deployment["id"] in shown.stdout


def test_official_serve_runs_a_deployment_run(
    tmp_path: Path, prefect_python: Path, prefect_client_env: dict[str, str], api: httpx.Client
) -> None:
    (tmp_path / "hello.py").write_text(FLOW_FILE)
    env = prefect_client_env
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(prefect_python), "hello.py", "serve"],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def registered() -> dict[str, Any] | None:
            response = api.get("/deployments/name/hello/official-serve")
            return response.json() if response.status_code == 200 else None

        deployment = wait_for("the served deployment", registered)
        prefect(
            prefect_python,
            env,
            tmp_path,
            "deployment",
            "run",
            "hello/official-serve",
            "--param",
            "name=srv",
        )
        body = {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}

        def completed() -> list[dict[str, Any]]:
            runs = api.post("/flow_runs/filter", json=body).json()
            return [r for r in runs if r["state_type"] == "COMPLETED"]

        finished = wait_for("the run to complete", completed)
        assert finished[0]["parameters"] == {"n": 5, "name": "srv"}
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        assert api.get(f"/deployments/{deployment['id']}").json()["paused"] is True
        # Serving again updates the existing deployment (PATCH) and unpauses it.
        with (tmp_path / "serve2.log").open("wb") as log:
            again = subprocess.Popen(
                [str(prefect_python), "hello.py", "serve"],
                env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:

            def unpaused() -> bool:
                current = api.get(f"/deployments/{deployment['id']}").json()
                return current["paused"] is False

            wait_for("the deployment to be served again", unpaused)
        finally:
            os.killpg(again.pid, signal.SIGKILL)
            again.wait(timeout=15)
        log_text = (tmp_path / "serve2.log").read_text()
        assert "422" not in log_text and "Traceback" not in log_text, log_text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
