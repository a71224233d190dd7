"""Deployments from the SDK, embedded (no server): ``from_source`` with a directory and
with a git repository, ``deploy`` to a work pool (pull steps, parameter schema, schedule),
``python -m flowyard.sdk.execute`` running a deployment's run in a real subprocess, and
``run_deployment`` waiting for the run to end."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from flowyard import Flow, flow, run_deployment
from flowyard.client import get_sync_client
from flowyard.exceptions import InvalidRequest, ObjectNotFound
from flowyard.sdk.parameter_schema import parameter_schema
from flowyard.sdk.pull_steps import PullStepError, run_pull_steps

FLOW_SOURCE = """
import os
from flowyard import flow
from helper import shout

@flow
def etl(rows: int, label: str = "x") -> str:
    with open(os.environ["OUT"], "a") as f:
        f.write(f"{shout(label)}:{rows}\\n")
    return label
"""


def write_project(folder: Path) -> None:
    (folder / "flows").mkdir(parents=True)
    (folder / "flows" / "etl.py").write_text(FLOW_SOURCE)
    (folder / "flows" / "helper.py").write_text("def shout(s):\n    return s.upper()\n")


def execute(run_id: uuid.UUID, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWYARD_FLOW_RUN_ID": str(run_id)}
    return subprocess.run(
        [sys.executable, "-m", "flowyard.sdk.execute"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "out.txt"
    monkeypatch.setenv("OUT", str(path))
    return path


@pytest.fixture
def pool() -> str:
    with get_sync_client() as client:
        client.create_work_pool("local", type="process")
    return "local"


class Window(BaseModel):
    days: int


def test_parameter_schema_from_signature() -> None:
    def fn(rows: int, window: Window, label: str = "x", *extra: float) -> None: ...

    schema = parameter_schema(fn)
    props = schema["properties"]
    assert schema["required"] == ["rows", "window"]
    assert props["rows"] == {"type": "integer", "title": "rows", "position": 0}
    assert props["label"]["default"] == "x" and props["label"]["position"] == 2
    assert props["window"]["properties"]["days"]["type"] == "integer"
    assert props["window"]["required"] == ["days"] and props["window"]["title"] == "window"
    assert props["extra"]["items"] == {"type": "number"}


def test_unknown_parameters_are_refused_at_request_time_unless_the_flow_takes_kwargs(
    tmp_path: Path, pool: str
) -> None:
    def closed(rows: int, *extra: float) -> None: ...

    def open_ended(rows: int, **options: str) -> None: ...

    assert parameter_schema(closed)["additionalProperties"] is False
    assert "additionalProperties" not in parameter_schema(open_ended)
    source = tmp_path / "src"
    write_project(source)
    etl = Flow.from_source(source, "flows/etl.py:etl")
    deployment_id = etl.deploy("strict", work_pool_name=pool, parameters={"rows": 3})
    with get_sync_client() as client:
        with pytest.raises(InvalidRequest, match="bogus"):
            client.create_flow_run_from_deployment(deployment_id, parameters={"bogus": 1})
        client.create_flow_run_from_deployment(deployment_id, parameters={"label": "ok"})


def test_from_directory_deploy_and_execute(tmp_path: Path, out: Path, pool: str) -> None:
    source = tmp_path / "src"
    write_project(source)
    etl = Flow.from_source(source, "flows/etl.py:etl")
    assert isinstance(etl, Flow) and etl.name == "etl"
    deployment_id = etl.deploy(
        "daily", work_pool_name=pool, cron="0 6 * * *", timezone="Europe/Paris",
        parameters={"rows": 3}, job_variables={"env": {"A": "1"}},
    )  # fmt: skip
    with get_sync_client() as client:
        deployment = client.read_deployment(deployment_id)
        assert deployment.entrypoint == "flows/etl.py:etl"
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(source)}}
        ]
        assert deployment.work_pool_name == pool and deployment.work_queue_name == "default"
        assert deployment.parameter_openapi_schema is not None
        assert deployment.parameter_openapi_schema["required"] == ["rows"]
        assert [s.schedule.model_dump() for s in deployment.schedules] == [
            {"cron": "0 6 * * *", "timezone": "Europe/Paris", "day_or": True}
        ]
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"label": "ok"})
        with pytest.raises(InvalidRequest, match="rows"):
            client.create_flow_run_from_deployment(deployment_id, parameters={"rows": "many"})
    done = execute(run.id, tmp_path)  # any cwd: the pull step moves to the source
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "OK:3\n"
    with get_sync_client() as client:
        final = client.read_flow_run(run.id)
    assert final.state_type is not None and final.state_type.value == "COMPLETED"
    again = execute(run.id, tmp_path)  # a finished run is never run twice
    assert again.returncode == 1 and out.read_text() == "OK:3\n"


def test_from_git_repository(tmp_path: Path, out: Path, pool: str) -> None:
    repo = tmp_path / "repo"
    write_project(repo)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "flows"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    url = f"file://{repo}"
    deployment_id = Flow.from_source(url, "flows/etl.py:etl").deploy(
        "from-git", work_pool_name=pool, parameters={"rows": 7}
    )
    with get_sync_client() as client:
        deployment = client.read_deployment(deployment_id)
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.git_clone": {"repository": url, "branch": None}}
        ]
        run = client.create_flow_run_from_deployment(deployment_id)
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = execute(run.id, workdir)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "X:7\n"
    assert (workdir / "repo" / "flows" / "etl.py").exists()  # cloned where the run started


def test_pull_step_names_and_bad_input(tmp_path: Path) -> None:
    here = os.getcwd()
    try:
        for name in (
            "flowyard.deployments.steps.set_working_directory",
            "prefect.deployments.steps.set_working_directory",
            "prefect.deployments.steps.pull.set_working_directory",
        ):
            os.chdir(here)
            run_pull_steps([{name: {"directory": str(tmp_path)}}])
            assert Path.cwd() == tmp_path.resolve()
        with pytest.raises(PullStepError, match="Unknown pull step"):
            run_pull_steps([{"prefect.deployments.steps.run_shell_script": {"script": "ls"}}])
        with pytest.raises(PullStepError, match="must not start with '-'"):
            run_pull_steps(
                [{"prefect.deployments.steps.git_clone": {"repository": "--upload-pack=x"}}]
            )
        with pytest.raises(PullStepError, match="failed"):
            run_pull_steps([{"git_clone": {"repository": str(tmp_path / "nope")}}])
    finally:
        os.chdir(here)


def test_bad_schedule_is_refused_before_anything_is_stored() -> None:
    @flow
    def tiny() -> None: ...

    with pytest.raises(InvalidRequest, match="cron"):
        tiny.to_deployment("bad", cron="0 0 32 * *")
    with pytest.raises(InvalidRequest, match="timezone"):
        tiny.to_deployment("bad", interval=60, timezone="Nowhere/Land")


def test_run_deployment_waits_for_the_run(tmp_path: Path, out: Path, pool: str) -> None:
    source = tmp_path / "src"
    write_project(source)
    deployment_id = Flow.from_source(source, "flows/etl.py:etl").deploy(
        "on-demand", work_pool_name=pool, parameters={"rows": 1}
    )
    results: list[Any] = []

    def tiny_worker() -> None:
        # Stands in for a worker: executes the first run that appears.
        with get_sync_client() as client:
            for _ in range(600):
                runs = client.get_scheduled_flow_runs_for_deployments([deployment_id])
                if runs:
                    results.append(execute(runs[0].id, tmp_path))
                    return
                threading.Event().wait(0.1)

    thread = threading.Thread(target=tiny_worker)
    thread.start()
    run = run_deployment("etl/on-demand", parameters={"label": "rd"}, timeout=120)
    thread.join(timeout=120)
    assert results and results[0].returncode == 0, results and results[0].stderr
    assert run.state_type is not None and run.state_type.value == "COMPLETED"
    assert run.parameters == {"rows": 1, "label": "rd"} and out.read_text() == "RD:1\n"
    quick = run_deployment(deployment_id, timeout=0)
    assert quick.state_type is not None and quick.state_type.value == "SCHEDULED"
    with pytest.raises(ObjectNotFound):
        run_deployment("etl/missing", timeout=0)


def test_run_deployment_inside_a_flow_is_a_subflow(tmp_path: Path, pool: str) -> None:
    source = tmp_path / "src"
    write_project(source)
    deployment_id = Flow.from_source(source, "flows/etl.py:etl").deploy(
        "child", work_pool_name=pool, parameters={"rows": 1}
    )

    @flow
    def parent() -> Any:
        return run_deployment(deployment_id, timeout=0)

    child = parent()
    assert child.parent_task_run_id is not None
    with get_sync_client() as client:
        tracking = client.read_task_run(child.parent_task_run_id)
        runs = client.read_flow_runs(limit=10)
    parent_run = next(r for r in runs if r.deployment_id is None)
    assert tracking.flow_run_id == parent_run.id
    detached = run_deployment(deployment_id, timeout=0, as_subflow=False)
    assert detached.parent_task_run_id is None


SLOW_SOURCE = """
import os, time
from flowyard import flow

@flow
def slow() -> None:
    with open(os.environ["OUT"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    # Runs until the test lets it finish: the other process must meet it still running,
    # however slowly the machine starts it.
    release = os.environ.get("RELEASE")
    deadline = time.monotonic() + 120
    while release and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.01)
"""


def test_two_processes_for_one_run_run_it_once(tmp_path: Path, out: Path, pool: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "slow.py").write_text(SLOW_SOURCE)
    deployment_id = Flow.from_source(source, "slow.py:slow").deploy("once", work_pool_name=pool)
    with get_sync_client() as client:
        run = client.create_flow_run_from_deployment(deployment_id)
    release = tmp_path / "release"
    env = {**os.environ, "FLOWYARD_FLOW_RUN_ID": str(run.id), "RELEASE": str(release)}
    command = [sys.executable, "-m", "flowyard.sdk.execute"]
    procs = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    # The flow holds until released, so the process that did not get the run ends first.
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    release.touch()
    codes = sorted(p.wait(timeout=120) for p in procs)
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes == [0, 1]  # one ran it, the other was refused before any user code
    assert len(out.read_text().splitlines()) == 1
