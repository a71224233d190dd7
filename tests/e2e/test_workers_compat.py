"""Workers, compatible both ways with the official client (``prefect==3.9.1``, own venv):

- the official ``prefect worker start --pool P --type process`` pointed at Flowyard takes a
  run of a deployment made with Flowyard's SDK and runs it (``prefect flow-run execute``);
- ``flowyard worker start`` runs a deployment made with the official
  ``flow.from_source(...).deploy(...)``, honouring the pool's base job template (the
  deployment's ``env`` job variable) and its ``set_working_directory`` pull step.

The flow file imports ``flow`` from whichever SDK the process running it has, and writes
down which one ran it, from where and with what environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"
DEADLINE = 120.0

FLOW_FILE = """
import json, os, sys
try:
    from prefect import flow
except ImportError:
    from flowyard import flow


@flow(name="compat")
def compat(out: str, who: str = "world"):
    with open(out, "w") as f:
        json.dump({
            "who": who,
            "sdk": "prefect" if "prefect" in sys.modules else "flowyard",
            "cwd": os.getcwd(),
            "mark": os.environ.get("COMPAT_MARK"),
            "run_id": os.environ.get("PREFECT__FLOW_RUN_ID"),
        }, f)
    return who
"""


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def flow_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "flow-code"
    folder.mkdir()
    (folder / "compat_flow.py").write_text(FLOW_FILE)
    return folder


class Background:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], name: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs.append(
                subprocess.Popen(
                    argv,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def output(self) -> str:
        return "\n".join(p.read_text()[-4000:] for p in self.logs.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Background]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Background(logs)
    yield procs
    procs.stop()


def wait_final(api: httpx.Client, run_id: str, background: Background) -> dict[str, Any]:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        found: dict[str, Any] = api.get(f"/flow_runs/{run_id}").json()
        if found["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            return found
        time.sleep(0.25)
    pytest.fail(f"run {run_id} did not finish:\n{background.output()}")


def test_official_worker_runs_a_flowyard_deployment(
    server_api_url: str,
    api: httpx.Client,
    prefect_python: Path,
    flow_dir: Path,
    tmp_path: Path,
    background: Background,
) -> None:
    pool = f"fy-pool-{uuid.uuid4().hex[:6]}"
    ours = base_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "fy-home"))
    run([str(FLOWYARD), "work-pool", "create", pool, "--type", "process"], ours)
    deploy = textwrap.dedent(
        f"""
        from flowyard.sdk.flows import Flow
        flow = Flow.from_source({str(flow_dir)!r}, "compat_flow.py:compat")
        print(flow.deploy("made-by-flowyard", work_pool_name={pool!r}))
        """
    )
    deployment_id = run([sys.executable, "-c", deploy], ours).strip().splitlines()[-1]
    theirs = base_env(
        PREFECT_API_URL=server_api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_WORKER_QUERY_SECONDS="1",
    )
    prefect = str(prefect_python.parent / "prefect")
    background.start(
        [prefect, "worker", "start", "--pool", pool, "--type", "process"], theirs, "pw"
    )
    out = tmp_path / "out.json"
    body = {"parameters": {"out": str(out), "who": "official-worker"}}
    created = api.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
    assert created.status_code == 201, created.text
    flow_run = wait_final(api, created.json()["id"], background)
    assert flow_run["state_type"] == "COMPLETED", background.output()
    result = json.loads(out.read_text())
    assert result["who"] == "official-worker" and result["sdk"] == "prefect"
    assert Path(result["cwd"]).resolve() == flow_dir.resolve()
    assert result["run_id"] == flow_run["id"]
    assert flow_run["infrastructure_pid"]
    workers = api.post(f"/work_pools/{pool}/workers/filter", json={}).json()
    assert workers and workers[0]["status"] == "ONLINE"


def test_flowyard_worker_runs_an_official_deployment(
    server_api_url: str,
    api: httpx.Client,
    prefect_python: Path,
    flow_dir: Path,
    tmp_path: Path,
    background: Background,
) -> None:
    pool = f"pf-pool-{uuid.uuid4().hex[:6]}"
    theirs = base_env(PREFECT_API_URL=server_api_url, PREFECT_HOME=str(tmp_path / "prefect-home"))
    prefect = str(prefect_python.parent / "prefect")
    run([prefect, "work-pool", "create", pool, "--type", "process"], theirs)
    deploy = textwrap.dedent(
        f"""
        from prefect import flow
        flow.from_source(source={str(flow_dir)!r}, entrypoint="compat_flow.py:compat").deploy(
            name="made-by-prefect",
            work_pool_name={pool!r},
            job_variables={{"env": {{"COMPAT_MARK": "from-job-variables"}}}},
        )
        """
    )
    run([str(prefect_python), "-c", deploy], theirs, cwd=tmp_path)
    deployment = api.get("/deployments/name/compat/made-by-prefect").json()
    steps = json.dumps(deployment["pull_steps"])
    assert "set_working_directory" in steps

    ours = base_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "fy-home"))
    background.start([str(FLOWYARD), "worker", "start", "--pool", pool], ours, "fw")
    out = tmp_path / "out.json"
    run(
        [
            prefect,
            "deployment",
            "run",
            "compat/made-by-prefect",
            "--param",
            f"out={out}",
            "--param",
            "who=flowyard-worker",
        ],
        theirs,
    )
    runs = api.post(
        "/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment["id"]]}}}
    ).json()
    assert len(runs) == 1
    flow_run = wait_final(api, runs[0]["id"], background)
    assert flow_run["state_type"] == "COMPLETED", background.output()
    result = json.loads(out.read_text())
    assert result["who"] == "flowyard-worker" and result["sdk"] == "flowyard"
    assert Path(result["cwd"]).resolve() == flow_dir.resolve()
    assert result["mark"] == "from-job-variables"  # the template's env, from job variables
    assert flow_run["infrastructure_pid"]


def test_flowyard_worker_runs_an_official_deployment_from_git(
    server_api_url: str,
    api: httpx.Client,
    prefect_python: Path,
    flow_dir: Path,
    tmp_path: Path,
    background: Background,
) -> None:
    # A repository of the flow file, cloned by the run's git_clone pull step.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "compat_flow.py").write_text(FLOW_FILE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "flow"]):
        run([*git, *args], base_env())
    pool = f"git-pool-{uuid.uuid4().hex[:6]}"
    theirs = base_env(PREFECT_API_URL=server_api_url, PREFECT_HOME=str(tmp_path / "prefect-home"))
    prefect = str(prefect_python.parent / "prefect")
    run([prefect, "work-pool", "create", pool, "--type", "process"], theirs)
    deploy = textwrap.dedent(
        f"""
        from prefect import flow
        from prefect.runner.storage import GitRepository
        source = GitRepository(url={f"file://{repo}"!r}, branch="main")
        flow.from_source(source=source, entrypoint="compat_flow.py:compat").deploy(
            name="from-git", work_pool_name={pool!r}
        )
        """
    )
    run([str(prefect_python), "-c", deploy], theirs, cwd=tmp_path)
    deployment = api.get("/deployments/name/compat/from-git").json()
    assert "git_clone" in json.dumps(deployment["pull_steps"])

    ours = base_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "fy-home"))
    worker_dir = tmp_path / "worker-cwd"
    worker_dir.mkdir()
    with (tmp_path / "logs" / "fw.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(FLOWYARD), "worker", "start", "--pool", pool],
            env=ours,
            cwd=worker_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    background.procs.append(proc)
    out = tmp_path / "out.json"
    body = {"parameters": {"out": str(out), "who": "git"}}
    created = api.post(f"/deployments/{deployment['id']}/create_flow_run", json=body)
    assert created.status_code == 201, created.text
    flow_run = wait_final(api, created.json()["id"], background)
    assert flow_run["state_type"] == "COMPLETED", background.output()
    result = json.loads(out.read_text())
    assert result["who"] == "git" and result["sdk"] == "flowyard"
    # It ran in a fresh clone, in a scratch folder of the run's own: not in the repository
    # and not in the worker's folder, which the clone left untouched.
    assert Path(result["cwd"]).name == "repo" and Path(result["cwd"]) != repo
    assert list(worker_dir.iterdir()) == []
