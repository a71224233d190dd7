"""``flow.serve()`` as a real process against a real server: a run requested with
``flowyard deployment run`` is picked up and executed in a subprocess, scheduled runs start
on their own, cancelling a running run terminates its process and ends it Cancelled, and
Ctrl-C pauses the deployment (its future scheduled runs go away)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"
DEADLINE = 90.0

FLOW_FILE = """
import json, os, time
from flowyard import flow

@flow(log_prints=True)
def greet(name: str = "world", n: int = 1, sleep: float = 0.0, die: int = 0) -> str:
    if die:
        os._exit(die)  # the process vanishes without reporting anything
    print(f"hello {name} x{n}")
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"name": name, "n": n, "pid": os.getpid()}) + "\\n")
    time.sleep(sleep)
    return name

if __name__ == "__main__":
    import sys
    if sys.argv[1] == "two":
        from flowyard import serve
        serve(
            greet.to_deployment("first", parameters={"name": "one"}),
            greet.to_deployment("second", parameters={"name": "two"}, cron="0 0 1 1 *"),
        )
    else:
        greet.serve(name=sys.argv[1], parameters={"n": 2}, interval=float(sys.argv[2]))
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    return {**env, **extra}


def wait_for(what: str, check: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def project(tmp_path: Path, server_api_url: str) -> Iterator[dict[str, Any]]:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "hello.py").write_text(FLOW_FILE)
    out = tmp_path / "out.jsonl"
    env = clean_env(
        FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "home"), OUT=str(out)
    )
    procs: list[subprocess.Popen[bytes]] = []

    def serve(name: str, interval: float) -> subprocess.Popen[bytes]:
        with (tmp_path / f"serve-{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "hello.py", name, str(interval)],
                cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        procs.append(proc)
        return proc

    yield {"folder": folder, "out": out, "env": env, "serve": serve, "logs": tmp_path}
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def deployment(api: httpx.Client, name: str) -> dict[str, Any] | None:
    response = api.get(f"/deployments/name/greet/{name}")
    return response.json() if response.status_code == 200 else None


def runs(api: httpx.Client, deployment_id: str, *states: str) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"deployment_id": {"any_": [deployment_id]}}
    if states:
        flt["state"] = {"type": {"any_": list(states)}}
    body = {"flow_runs": flt, "limit": 200}
    result: list[dict[str, Any]] = api.post("/flow_runs/filter", json=body).json()
    return result


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOWYARD), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_serve_runs_a_requested_run_then_pauses_on_ctrl_c(
    project: dict[str, Any], api: httpx.Client
) -> None:
    proc = project["serve"]("served", 3600)
    found = wait_for("the deployment", lambda: deployment(api, "served"))
    assert found["parameters"] == {"n": 2} and found["entrypoint"] == "hello.py:greet"
    assert found["parameter_openapi_schema"]["properties"]["n"]["type"] == "integer"
    future = [r for r in runs(api, found["id"]) if r["auto_scheduled"]]
    assert len(future) >= 3  # hourly, created at once

    done = cli(project["env"], "deployment", "run", "greet/served", "--param", "name=ada")
    assert done.returncode == 0, done.stderr
    assert "Created flow run" in done.stdout
    bad = cli(project["env"], "deployment", "run", "greet/served", "--param", "n=many")
    assert bad.returncode == 1 and "n" in bad.stderr and "Traceback" not in bad.stderr

    def completed() -> list[dict[str, Any]]:
        return [r for r in runs(api, found["id"]) if r["state_type"] == "COMPLETED"]

    finished = wait_for("the requested run to complete", completed)
    assert len(finished) == 1 and finished[0]["parameters"] == {"n": 2, "name": "ada"}
    assert [(r["name"], r["n"]) for r in lines(project["out"])] == [("ada", 2)]
    assert lines(project["out"])[0]["pid"] != proc.pid  # in a subprocess of its own
    run_logs = {"logs": {"flow_run_id": {"any_": [finished[0]["id"]]}}}
    wait_for(
        "the run's log line",
        lambda: any(
            "hello ada x2" in log["message"]
            for log in api.post("/logs/filter", json=run_logs).json()
        ),
    )

    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    paused = deployment(api, "served")
    assert paused is not None and paused["paused"] is True
    assert [r for r in runs(api, found["id"]) if r["state_type"] == "SCHEDULED"] == []


def test_serve_starts_scheduled_runs_and_cancels_a_running_one(
    project: dict[str, Any], api: httpx.Client
) -> None:
    project["serve"]("every-second", 1)
    found = wait_for("the deployment", lambda: deployment(api, "every-second"))

    def completed() -> list[dict[str, Any]]:
        done = runs(api, found["id"], "COMPLETED")
        return done if len(done) >= 2 else []

    scheduled_done = wait_for("two scheduled runs to complete", completed)
    assert all(r["auto_scheduled"] for r in scheduled_done)
    assert all(r["parameters"] == {"n": 2} for r in scheduled_done)
    assert {(line["name"], line["n"]) for line in lines(project["out"])} == {("world", 2)}
    # Scheduled runs never run twice: one line per completed run.
    assert len(lines(project["out"])) >= 2
    assert len({r["id"] for r in scheduled_done}) == len(scheduled_done)

    api.post(f"/deployments/{found['id']}/pause_deployment")  # no more scheduled runs
    created = api.post(
        f"/deployments/{found['id']}/create_flow_run", json={"parameters": {"sleep": 120}}
    ).json()

    def running() -> bool:
        run = api.get(f"/flow_runs/{created['id']}").json()
        return bool(run["state_type"] == "RUNNING")

    wait_for("the long run to be running", running)
    cancel = cli(project["env"], "flow-run", "cancel", created["id"])
    assert cancel.returncode == 0, cancel.stderr

    def cancelled() -> bool:
        run = api.get(f"/flow_runs/{created['id']}").json()
        return bool(run["state_type"] == "CANCELLED")

    wait_for("the run to end Cancelled", cancelled)


def test_serve_several_deployments(project: dict[str, Any], api: httpx.Client) -> None:
    project["serve"]("two", 0)
    first = wait_for("the first deployment", lambda: deployment(api, "first"))
    second = wait_for("the second deployment", lambda: deployment(api, "second"))
    assert second["schedules"][0]["schedule"]["cron"] == "0 0 1 1 *"
    for name in ("greet/first", "greet/second"):
        done = cli(project["env"], "deployment", "run", name)
        assert done.returncode == 0, done.stderr

    def both() -> bool:
        return all(runs(api, d["id"], "COMPLETED") for d in (first, second))

    wait_for("a run of each deployment to complete", both)
    assert sorted(line["name"] for line in lines(project["out"])) == ["one", "two"]


def test_readme_serve_example(tmp_path: Path, server_api_url: str, api: httpx.Client) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(r"### Deployments and schedules\n\n```python\n(.*?)```", readme, re.S)
    assert match, "README lost its deployments example"
    (tmp_path / "example.py").write_text(match.group(1))
    env = clean_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "home"))
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "example.py"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        hourly = wait_for("the deployment", lambda: deployment(api, "hourly"))
        nightly = wait_for(
            "the second deployment",
            lambda: api.get("/deployments/name/nightly-report/nightly").json().get("schedules"),
        )
        assert nightly[0]["schedule"]["timezone"] == "America/New_York"
        done = cli(env, "deployment", "run", "greet/hourly", "--param", "name=ada")
        assert done.returncode == 0, done.stderr
        # The schedule's own runs (name "team") may complete too: pick the requested one.
        finished = wait_for(
            "the run",
            lambda: [
                run
                for run in runs(api, hourly["id"], "COMPLETED")
                if run["parameters"].get("name") == "ada"
            ],
        )
        # The run's log lines may land a moment after its final state: wait for them.
        wait_for(
            "the run's log line",
            lambda: any(
                "hello ada" in log["message"]
                for log in api.post(
                    "/logs/filter",
                    json={"logs": {"flow_run_id": {"any_": [finished[0]["id"]]}}},
                ).json()
            ),
        )
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def test_a_run_whose_process_dies_ends_crashed(project: dict[str, Any], api: httpx.Client) -> None:
    project["serve"]("crashy", 3600)
    found = wait_for("the deployment", lambda: deployment(api, "crashy"))
    url = f"/deployments/{found['id']}/create_flow_run"
    run = api.post(url, json={"parameters": {"die": 3}}).json()

    def crashed() -> dict[str, Any] | None:
        current: dict[str, Any] = api.get(f"/flow_runs/{run['id']}").json()
        return current if current["state_type"] == "CRASHED" else None

    final = wait_for("the run to end Crashed", crashed)
    assert "code 3" in final["state"]["message"]
    assert lines(project["out"]) == []


def test_serve_without_a_server_keeps_its_schedule_going(
    tmp_path: Path, flowyard_home: Path
) -> None:
    from flowyard.client import get_sync_client, shutdown_embedded
    from flowyard.schemas.filters import FlowRunFilter

    folder = tmp_path / "embedded"
    folder.mkdir()
    (folder / "hello.py").write_text(FLOW_FILE)
    out = tmp_path / "out.jsonl"
    env = clean_env(FLOWYARD_HOME=str(flowyard_home), OUT=str(out))  # no API URL: embedded
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "hello.py", "embedded", "1"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for("scheduled runs to complete", lambda: len(lines(out)) >= 2)

        def count(state: str) -> int:
            flt = FlowRunFilter.model_validate({"state": {"type": {"any_": [state]}}})
            with get_sync_client() as client:
                return client.count_flow_runs(flow_run_filter=flt)

        # Remove every future run: serve() itself makes them again (no scheduler service).
        with get_sync_client() as client:
            scheduled = FlowRunFilter.model_validate({"state": {"type": {"any_": ["SCHEDULED"]}}})
            for run in client.read_flow_runs(flow_run_filter=scheduled, limit=200):
                client.delete_flow_run(run.id)
        wait_for("the schedule to be topped up", lambda: count("SCHEDULED") >= 50)
        assert count("COMPLETED") >= 2
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        shutdown_embedded()
