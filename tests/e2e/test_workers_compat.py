"""Workers, compatible both ways with the official client (``prefect==3.9.1``), each worker
in the environment a user would have:

- ``prefect worker start`` from a venv holding both SDKs, started as from an activated venv
  (its ``bin`` first on ``PATH``), runs a deployment made with Flowyard's ``.deploy()``: the
  deployment carries the command of Flowyard's engine (``python -m flowyard.sdk.execute``)
  in its job variables, and the official worker honours it;
- ``flowyard worker start`` from that venv runs a deployment made with the official
  ``flow.from_source(...).deploy(...)`` the way the official worker does
  (``python -m prefect.engine``), so the flow's ``get_run_logger()`` works and its lines are
  recorded; from Flowyard's own venv it runs one whose job variables give the command (the
  prefect venv's python);
- ``flowyard worker start`` from Flowyard's venv, with no ``prefect`` to run the official
  engine and no command given, runs the flow's function with Flowyard's engine, honouring
  the pool's base job template (the deployment's ``env`` job variable) and its
  ``set_working_directory`` or ``git_clone`` pull step.

The venv with both SDKs (``both_python``) is a real one: ``prefect==3.9.1`` and this
checkout (editable, so it runs the code under test) installed together by pip, which checks
that their requirements agree. Layering one venv's site-packages over another's with
``PYTHONPATH`` would mix two resolutions of the shared dependencies (pydantic, httpx, ...) and
test an environment nobody has.
"""

from __future__ import annotations

import fcntl
import hashlib
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
REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_VERSION = "3.9.1"
PIP_TIMEOUT = 900.0

# Written with the official SDK only: its logger works only inside the official engine.
OFFICIAL_FLOW_FILE = """
import json, os, time
from prefect import flow, get_run_logger
from prefect.context import FlowRunContext


@flow(name="official-sdk")
def official_sdk(out: str, who: str = "world", hold: float = 0):
    get_run_logger().info("Hello %s, from the official engine", who)
    context = FlowRunContext.get()
    with open(out, "w") as f:
        json.dump({
            "who": who,
            "engine_run_id": str(context.flow_run.id) if context else None,
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }, f)
    time.sleep(hold)
    return who
"""

# Written with Flowyard's SDK only: the official engine cannot run its flow object.
FLOWYARD_FLOW_FILE = """
import json, os
from flowyard import flow, get_run_logger
from flowyard.sdk.context import FLOW_RUN


@flow(name="flowyard-sdk")
def flowyard_sdk(out: str, who: str = "world"):
    get_run_logger().info("Hello %s, from Flowyard's engine", who)
    context = FLOW_RUN.get()
    with open(out, "w") as f:
        json.dump({
            "who": who,
            "engine_run_id": str(context.flow_run.id) if context else None,
            "cwd": os.getcwd(),
        }, f)
    return who
"""

# Imports whichever SDK the process has: for a worker with no ``prefect`` where it runs.
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


def flow_folder(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "flow-code"
    folder.mkdir()
    (folder / name).write_text(text)
    return folder


def _pip_install(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"{argv} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


@pytest.fixture(scope="session")
def both_python() -> Path:
    """The python of a venv with ``prefect==3.9.1`` and Flowyard (this checkout, editable):
    ``FLOWYARD_COMPAT_VENV``, or ``<repo>/.venv-compat`` made on first use. Made again when
    ``pyproject.toml`` (Flowyard's requirements) changes; a lock keeps two test processes
    from making it at the same time."""
    venv = Path(os.environ.get("FLOWYARD_COMPAT_VENV") or REPO_ROOT / ".venv-compat")
    python = venv / "bin" / "python"
    digest = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    stamp = venv / f".installed-{PREFECT_VERSION}-{digest}"
    venv.mkdir(parents=True, exist_ok=True)
    with open(venv / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            if not python.exists():
                _pip_install([sys.executable, "-m", "venv", str(venv)])
            _pip_install(
                [str(python), "-m", "pip", "install", "--quiet",
                 f"prefect=={PREFECT_VERSION}", "-e", str(REPO_ROOT)]
            )  # fmt: skip
            stamp.touch()
    return python


def activated(python: Path, **extra: str) -> dict[str, str]:
    """The environment of a shell that activated ``python``'s venv: its ``bin`` first on
    ``PATH``, so that ``python`` in a job template's command is that venv's."""
    venv_bin = python.parent
    return base_env(
        PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(venv_bin.parent),
        **extra,
    )


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


def run_messages(api: httpx.Client, run_id: str) -> list[str]:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}}
    return [log["message"] for log in api.post("/logs/filter", json=body).json()]


def wait_for_log(api: httpx.Client, run_id: str, text: str, background: Background) -> None:
    # The engines send their log lines in batches, possibly after the final state.
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if any(text in message for message in run_messages(api, run_id)):
            return
        time.sleep(0.25)
    pytest.fail(f"no log {text!r} in {run_messages(api, run_id)}:\n{background.output()}")


def test_official_worker_runs_a_flowyard_deployment_with_flowyards_engine(
    server_api_url: str,
    api: httpx.Client,
    both_python: Path,
    tmp_path: Path,
    background: Background,
) -> None:
    code = flow_folder(tmp_path, "flowyard_flow.py", FLOWYARD_FLOW_FILE)
    pool = f"fy-pool-{uuid.uuid4().hex[:6]}"
    ours = base_env(FLOWYARD_API_URL=server_api_url, FLOWYARD_HOME=str(tmp_path / "fy-home"))
    run([str(FLOWYARD), "work-pool", "create", pool, "--type", "process"], ours)
    deploy = textwrap.dedent(
        f"""
        from flowyard.sdk.flows import Flow
        flow = Flow.from_source({str(code)!r}, "flowyard_flow.py:flowyard_sdk")
        print(flow.deploy("made-by-flowyard", work_pool_name={pool!r}))
        """
    )
    deployment_id = run([sys.executable, "-c", deploy], ours).strip().splitlines()[-1]
    deployment = api.get(f"/deployments/{deployment_id}").json()
    assert deployment["job_variables"]["command"] == "python -m flowyard.sdk.execute"

    # A user with both SDKs in one venv, activated: `python` on PATH is that venv's.
    theirs = activated(
        both_python,
        PREFECT_API_URL=server_api_url,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_WORKER_QUERY_SECONDS="1",
    )
    prefect = str(both_python.parent / "prefect")
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
    # Flowyard's engine ran it, on this very run, after the deployment's pull step.
    assert result["who"] == "official-worker"
    assert result["engine_run_id"] == flow_run["id"]
    assert Path(result["cwd"]).resolve() == code.resolve()
    assert flow_run["infrastructure_pid"]
    wait_for_log(api, flow_run["id"], "Hello official-worker, from Flowyard's engine", background)
    workers = api.post(f"/work_pools/{pool}/workers/filter", json={}).json()
    assert workers and workers[0]["status"] == "ONLINE"


def deploy_official(
    api: httpx.Client, server_api_url: str, prefect_python: Path, tmp_path: Path, **variables: str
) -> tuple[str, str, Path]:
    """The official-SDK flow deployed with the official client to a new pool of its making,
    with these job variables: (pool, deployment id, code folder)."""
    code = flow_folder(tmp_path, "official_flow.py", OFFICIAL_FLOW_FILE)
    pool = f"pf-pool-{uuid.uuid4().hex[:6]}"
    theirs = base_env(PREFECT_API_URL=server_api_url, PREFECT_HOME=str(tmp_path / "prefect-home"))
    run(
        [str(prefect_python.parent / "prefect"), "work-pool", "create", pool, "-t", "process"],
        theirs,
    )
    deploy = textwrap.dedent(
        f"""
        from prefect import flow
        flow.from_source(source={str(code)!r}, entrypoint="official_flow.py:official_sdk").deploy(
            name={pool!r}, work_pool_name={pool!r}, job_variables={variables!r},
        )
        """
    )
    run([str(prefect_python), "-c", deploy], theirs, cwd=tmp_path)
    deployment = api.get(f"/deployments/name/official-sdk/{pool}").json()
    return pool, deployment["id"], code


def start_flowyard_worker(
    background: Background, flowyard: Path, pool: str, server_api_url: str, tmp_path: Path
) -> None:
    # From that venv, activated, as a user would start it.
    worker_env = activated(
        flowyard.parent / "python",
        FLOWYARD_API_URL=server_api_url,
        FLOWYARD_HOME=str(tmp_path / "fy-home"),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
    )
    background.start([str(flowyard), "worker", "start", "--pool", pool], worker_env, "fw")


@pytest.mark.parametrize("worker_venv", ["both-sdks", "flowyard-only"])
def test_flowyard_worker_runs_an_official_deployment_with_the_official_engine(
    server_api_url: str,
    api: httpx.Client,
    prefect_python: Path,
    both_python: Path,
    tmp_path: Path,
    background: Background,
    worker_venv: str,
) -> None:
    if worker_venv == "both-sdks":
        # `flowyard worker start` from a venv with both SDKs; nothing given in the pool.
        flowyard, variables = both_python.parent / "flowyard", {}
    else:
        # From Flowyard's own venv (no prefect there): the deployment's job variables say
        # which python runs its flows, one with the official SDK.
        flowyard, variables = FLOWYARD, {"command": f"{prefect_python} -m prefect.engine"}
    pool, deployment_id, code = deploy_official(
        api, server_api_url, prefect_python, tmp_path, **variables
    )
    start_flowyard_worker(background, flowyard, pool, server_api_url, tmp_path)
    out = tmp_path / "out.json"
    body = {"parameters": {"out": str(out), "who": "flowyard-worker"}}
    created = api.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
    assert created.status_code == 201, created.text
    flow_run = wait_final(api, created.json()["id"], background)
    assert flow_run["state_type"] == "COMPLETED", background.output()
    result = json.loads(out.read_text())
    # The official engine ran it: its context names this run, and its logger worked.
    assert result["who"] == "flowyard-worker"
    assert result["engine_run_id"] == flow_run["id"]
    assert Path(result["cwd"]).resolve() == code.resolve()
    assert flow_run["infrastructure_pid"]
    wait_for_log(api, flow_run["id"], "Hello flowyard-worker, from the official engine", background)


def test_flowyard_worker_cancels_an_official_run(
    server_api_url: str,
    api: httpx.Client,
    prefect_python: Path,
    both_python: Path,
    tmp_path: Path,
    background: Background,
) -> None:
    pool, deployment_id, _ = deploy_official(api, server_api_url, prefect_python, tmp_path)
    start_flowyard_worker(
        background, both_python.parent / "flowyard", pool, server_api_url, tmp_path
    )
    out = tmp_path / "out.json"
    body = {"parameters": {"out": str(out), "who": "cancelled", "hold": 3600}}
    created = api.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    end = time.monotonic() + DEADLINE
    while not (out.exists() and out.read_text()) and time.monotonic() < end:
        time.sleep(0.25)
    assert out.exists(), background.output()
    cancel = {"state": {"type": "CANCELLING"}}
    assert api.post(f"/flow_runs/{run_id}/set_state", json=cancel).json()["status"] == "ACCEPT"
    # The official engine records the SIGTERM as a crash first (its own worker warns it over
    # a private channel); the worker that stopped the run then records what it was.
    end = time.monotonic() + DEADLINE
    while api.get(f"/flow_runs/{run_id}").json()["state_type"] != "CANCELLED":
        if time.monotonic() > end:
            pytest.fail(f"run {run_id} never Cancelled:\n{background.output()}")
        time.sleep(0.25)
    with pytest.raises(ProcessLookupError):
        os.kill(json.loads(out.read_text())["pid"], 0)


def test_flowyard_worker_without_prefect_runs_an_official_deployment_with_its_engine(
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
