"""A server started with ``FLOWYARD_SERVER_API_KEY``, as real processes: our SDK, our CLI,
``flowyard worker start`` running a deployment, and the official client (HTTP, its events
websocket and its events subscriber) all work with the key and are refused without it."""

from __future__ import annotations

import datetime as dt
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

from flowyard.testing.server_process import clean_env, server_process

pytestmark = pytest.mark.e2e

KEY = "e2e-" + uuid.uuid4().hex
FLOWYARD = Path(sys.executable).parent / "flowyard"
DEADLINE = 120.0

OUR_FLOW = """
from flowyard import flow, task

@task
def double(x):
    return 2 * x

@flow(name="keyed")
def keyed(out: str = ""):
    total = sum(double(i) for i in range(3))
    if out:
        with open(out, "w") as f:
            f.write(str(total))
    return total
"""

OFFICIAL_FLOW = """
from prefect import flow, task

@task
def double(x):
    return 2 * x

@flow(name="official-keyed")
def official_keyed():
    return sum(double(i) for i in range(3))

official_keyed()
"""

SUBSCRIBER = """
import asyncio, sys
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter

async def main():
    flt = EventFilter(event=EventNameFilter(prefix=[sys.argv[1]]))
    async with get_events_subscriber(filter=flt) as subscriber:
        print("ready", flush=True)
        async for event in subscriber:
            print(event.event, flush=True)
            return

asyncio.run(asyncio.wait_for(main(), 60))
"""


@pytest.fixture(scope="module")
def api_url(
    tmp_path_factory: pytest.TempPathFactory, server_database_url: str | None
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("keyed-server") / "home"
    with server_process(home, server_database_url, FLOWYARD_SERVER_API_KEY=KEY) as url:
        yield url


@pytest.fixture
def api(api_url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as client:
        yield client


def ours(api_url: str, home: Path, key: str | None = KEY) -> dict[str, str]:
    env = clean_env(FLOWYARD_API_URL=api_url, FLOWYARD_HOME=str(home))
    if key is not None:
        env["FLOWYARD_API_KEY"] = key
    return env


def theirs(api_url: str, home: Path, **auth: str) -> dict[str, str]:
    return clean_env(
        PREFECT_API_URL=api_url, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING", **auth
    )


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Any:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def task_runs_of(api: httpx.Client, flow_run_id: str) -> int:
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    count: int = api.post("/task_runs/count", json=body).json()
    return count


def flow_runs_named(api: httpx.Client, flow_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.post(
        "/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}
    ).json()
    return found


def test_the_server_refuses_a_request_without_the_key(api_url: str) -> None:
    response = httpx.post(f"{api_url}/flows/count", json={}, timeout=30)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{api_url}/health", timeout=30).json() is True


def test_our_sdk_runs_a_flow_with_the_key_and_is_refused_without(
    api_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    script = tmp_path / "our_flow.py"
    script.write_text(OUR_FLOW + "\nprint(keyed())\n")
    done = run([sys.executable, str(script)], ours(api_url, tmp_path / "home"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "6"
    [flow_run] = flow_runs_named(api, "keyed")
    assert flow_run["state_type"] == "COMPLETED"
    assert task_runs_of(api, flow_run["id"]) == 3

    refused = run([sys.executable, str(script)], ours(api_url, tmp_path / "home", key=None))
    assert refused.returncode != 0
    assert "Missing API key" in refused.stderr
    wrong = run([sys.executable, str(script)], ours(api_url, tmp_path / "home", key="wrong"))
    assert wrong.returncode != 0
    assert "Invalid API key" in wrong.stderr
    assert len(flow_runs_named(api, "keyed")) == 1


def test_our_cli_works_with_the_key_and_says_why_without(
    api_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    pool = f"keyed-{uuid.uuid4().hex[:6]}"
    created = run([str(FLOWYARD), "work-pool", "create", pool], ours(api_url, tmp_path))
    assert created.returncode == 0, created.stderr
    assert api.get(f"/work_pools/{pool}").status_code == 200

    refused = run([str(FLOWYARD), "work-pool", "ls"], ours(api_url, tmp_path, key=None))
    assert refused.returncode == 1
    assert "Missing API key" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout


def test_a_worker_with_the_key_runs_a_deployment(
    api_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    pool = f"keyed-{uuid.uuid4().hex[:6]}"
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "keyed_flow.py").write_text(OUR_FLOW)
    env = ours(api_url, tmp_path / "home")
    assert run([str(FLOWYARD), "work-pool", "create", pool], env).returncode == 0
    deploy = (
        "from flowyard.sdk.flows import Flow\n"
        f"Flow.from_source({str(flows)!r}, 'keyed_flow.py:keyed')"
        f".deploy('by-worker', work_pool_name={pool!r})\n"
    )
    deployed = run([sys.executable, "-c", deploy], env, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr[-3000:]

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [str(FLOWYARD), "worker", "start", "--pool", pool],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        result = tmp_path / "result.txt"
        requested = run(
            [str(FLOWYARD), "deployment", "run", "keyed/by-worker", "--param", f"out={result}"],
            env,
        )
        assert requested.returncode == 0, requested.stderr
        flow_run = final_run_of(api, "keyed/by-worker", log)
        assert flow_run["state_type"] == "COMPLETED", log.read_text()[-3000:]
        assert result.read_text() == "6"
        # The run's own process reported its task runs: it had the key too.
        assert task_runs_of(api, flow_run["id"]) == 3
    finally:
        stop(worker)


def test_serve_with_the_key_runs_a_deployment(
    api_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    script = tmp_path / "serve_keyed.py"
    # Guarded: each run's process imports this file to find the flow.
    script.write_text(OUR_FLOW + "\nif __name__ == '__main__':\n    keyed.serve(name='served')\n")
    env = ours(api_url, tmp_path / "home")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        served = subprocess.Popen(
            [sys.executable, str(script)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        end = time.monotonic() + DEADLINE
        while api.get("/deployments/name/keyed/served").status_code != 200:
            assert served.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < end, log.read_text()[-3000:]
            time.sleep(0.2)
        result = tmp_path / "result.txt"
        requested = run(
            [str(FLOWYARD), "deployment", "run", "keyed/served", "--param", f"out={result}"], env
        )
        assert requested.returncode == 0, requested.stderr
        flow_run = final_run_of(api, "keyed/served", log)
        assert flow_run["state_type"] == "COMPLETED", log.read_text()[-3000:]
        assert result.read_text() == "6"
        assert task_runs_of(api, flow_run["id"]) == 3
    finally:
        stop(served)


def final_run_of(api: httpx.Client, deployment_name: str, log: Path) -> dict[str, Any]:
    """The one run of the deployment, once it ended."""
    deployment = api.get(f"/deployments/name/{deployment_name}").json()
    body = {"deployments": {"id": {"any_": [deployment["id"]]}}}
    end = time.monotonic() + DEADLINE
    while True:
        [flow_run] = api.post("/flow_runs/filter", json=body).json()
        if flow_run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return dict(flow_run)
        assert time.monotonic() < end, f"run still {flow_run['state_type']}:\n{log.read_text()}"
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def test_the_official_client_runs_a_flow_with_the_auth_string(
    api_url: str, api: httpx.Client, prefect_python: Path, tmp_path: Path
) -> None:
    script = tmp_path / "official_flow.py"
    script.write_text(OFFICIAL_FLOW)
    done = run(
        [str(prefect_python), str(script)],
        theirs(api_url, tmp_path / "prefect-home", PREFECT_API_AUTH_STRING=KEY),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [flow_run] = flow_runs_named(api, "official-keyed")
    assert flow_run["state_type"] == "COMPLETED"
    # Task runs reach the server only as events on the websocket: it was let in.
    end = time.monotonic() + 30
    while task_runs_of(api, flow_run["id"]) < 3:
        assert time.monotonic() < end, "the task runs' events never arrived"
        time.sleep(0.2)

    refused = run(
        [str(prefect_python), str(script)], theirs(api_url, tmp_path / "prefect-home"), tmp_path
    )
    assert refused.returncode != 0
    assert len(flow_runs_named(api, "official-keyed")) == 1


def test_the_official_client_reads_with_prefect_api_key(
    api_url: str, prefect_python: Path, tmp_path: Path
) -> None:
    pool = f"keyed-{uuid.uuid4().hex[:6]}"
    prefect = str(prefect_python.parent / "prefect")
    env = theirs(api_url, tmp_path / "prefect-home", PREFECT_API_KEY=KEY)
    created = run([prefect, "work-pool", "create", pool, "--type", "process"], env)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    inspected = run([prefect, "work-pool", "inspect", pool], env)
    assert inspected.returncode == 0 and pool in inspected.stdout
    without = run(
        [prefect, "work-pool", "inspect", pool], theirs(api_url, tmp_path / "prefect-home")
    )
    assert without.returncode != 0


def _subscribe(
    prefect_python: Path, env: dict[str, str], tmp_path: Path, prefix: str
) -> subprocess.Popen[str]:
    script = tmp_path / "subscriber.py"
    script.write_text(textwrap.dedent(SUBSCRIBER))
    return subprocess.Popen(
        [str(prefect_python), str(script), prefix],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_official_events_subscriber_needs_the_auth_string(
    api_url: str, api: httpx.Client, prefect_python: Path, tmp_path: Path
) -> None:
    prefix = f"test.keyed.{uuid.uuid4().hex[:8]}."
    env = theirs(api_url, tmp_path / "prefect-home", PREFECT_API_AUTH_STRING=f"me:{KEY}")
    proc = _subscribe(prefect_python, env, tmp_path, prefix)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]  # type: ignore[union-attr]
        event = {
            "id": str(uuid.uuid4()),
            "occurred": dt.datetime.now(dt.UTC).isoformat(),
            "event": prefix + "sent",
            "resource": {"prefect.resource.id": "test.resource"},
        }
        assert api.post("/events", json=[event]).status_code == 204
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert out.strip().splitlines()[-1] == prefix + "sent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    refused = _subscribe(
        prefect_python,
        theirs(api_url, tmp_path / "prefect-home", PREFECT_API_KEY=KEY),
        tmp_path,
        prefix,
    )
    out, err = refused.communicate(timeout=120)
    assert refused.returncode != 0
    assert "ready" not in out
    assert "Unable to authenticate" in err
