"""``flowyard worker start`` as real processes against a real server: runs start exactly
once with two workers on one pool, ``--limit`` bounds concurrent runs, exits and kills end
runs Crashed, cancellation terminates the process and ends the run Cancelled, and Ctrl-C
stops the worker cleanly.

The runs here execute a small script of the test's own (the pool's ``command`` job
variable), which reports Running and Completed through the REST API and records in a file
what it did, so that the assertions count what really ran.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"
DEADLINE = 90.0

RUN_SCRIPT = """
import json, os, sys, time
import httpx

api, run_id = os.environ["FLOWYARD_API_URL"], os.environ["FLOWYARD_FLOW_RUN_ID"]
mode, out, arg = sys.argv[1], sys.argv[2], float(sys.argv[3])

def record(**fields):
    with open(out, "a") as f:
        f.write(json.dumps({"id": run_id, "pid": os.getpid(), **fields}) + "\\n")

with httpx.Client(base_url=api, timeout=30) as client:
    def state(kind):
        body = {"state": {"type": kind}}
        return client.post(f"/flow_runs/{run_id}/set_state", json=body).json()["status"]

    if state("RUNNING") != "ACCEPT":
        sys.exit(0)
    record(event="start", at=time.time(), prefect_id=os.environ.get("PREFECT__FLOW_RUN_ID"))
    if mode == "exit":
        sys.exit(int(arg))
    time.sleep(arg)
    record(event="end", at=time.time())
    state("COMPLETED")
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "run_script.py"
    path.write_text(RUN_SCRIPT)
    return path


@pytest.fixture
def records(tmp_path: Path) -> Path:
    return tmp_path / "records.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Workers:
    """Starts ``flowyard worker start`` processes and stops them at the end of the test."""

    def __init__(self, api_url: str, home: Path, logs: Path) -> None:
        self.api_url, self.home, self.logs = api_url, home, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, pool: str, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
        env.update(FLOWYARD_API_URL=self.api_url, FLOWYARD_HOME=str(self.home))
        with (self.logs / f"worker-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [str(FLOWYARD), "worker", "start", "--pool", pool, *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.logs.glob("worker-*.log")))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(server_api_url: str, tmp_path: Path) -> Iterator[Workers]:
    (tmp_path / "logs").mkdir()
    started = Workers(server_api_url, tmp_path / "worker-home", tmp_path / "logs")
    yield started
    started.stop()


def new_pool(api: httpx.Client, **extra: Any) -> str:
    name = f"pool-{uuid.uuid4().hex[:8]}"
    response = api.post("/work_pools/", json={"name": name, "type": "process", **extra})
    assert response.status_code == 201, response.text
    return name


def make_run(
    api: httpx.Client, pool: str, script: Path, records: Path, mode: str, arg: float = 0
) -> str:
    flow = api.post("/flows/", json={"name": "worker-e2e"}).json()
    command = shlex.join([sys.executable, str(script), mode, str(records), str(arg)])
    scheduled = dt.datetime.now(dt.UTC).isoformat()
    body = {
        "flow_id": flow["id"],
        "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": scheduled}},
        "work_pool_name": pool,
        "job_variables": {"command": command},
    }
    response = api.post("/flow_runs/", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["work_queue_id"] is not None
    run_id: str = response.json()["id"]
    return run_id


def states(api: httpx.Client, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    body = {"flow_runs": {"id": {"any_": run_ids}}, "limit": len(run_ids)}
    return {run["id"]: run for run in api.post("/flow_runs/filter", json=body).json()}


def final_runs(api: httpx.Client, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

    def done() -> dict[str, dict[str, Any]] | None:
        runs = states(api, run_ids)
        ok = len(runs) == len(run_ids) and all(r["state_type"] in final for r in runs.values())
        return runs if ok else None

    found: dict[str, dict[str, Any]] = wait_until(done, "every run to finish")
    return found


def test_two_workers_start_every_run_exactly_once(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api)
    workers.start(pool, "--name", "w1")
    workers.start(pool, "--name", "w2")
    wait_until(
        lambda: len(api.post(f"/work_pools/{pool}/workers/filter", json={}).json()) == 2,
        "both workers to heartbeat",
    )
    assert api.get(f"/work_pools/{pool}").json()["status"] == "READY"
    run_ids = [make_run(api, pool, script, records, "sleep", 0.2) for _ in range(24)]
    runs = final_runs(api, run_ids)
    assert {r["state_type"] for r in runs.values()} == {"COMPLETED"}, workers.output()
    starts = [r["id"] for r in read_records(records) if r["event"] == "start"]
    assert sorted(starts) == sorted(run_ids)  # every run once, none twice
    for run in runs.values():
        host, _, pid = run["infrastructure_pid"].partition(":")
        assert host and int(pid) > 0
    pids = {r["pid"] for r in read_records(records)}
    assert len(pids) == len(run_ids)  # each in its own process
    assert all(r["prefect_id"] == r["id"] for r in read_records(records) if r["event"] == "start")


def test_limit_bounds_concurrent_runs(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api)
    workers.start(pool, "--limit", "2")
    run_ids = [make_run(api, pool, script, records, "sleep", 1.0) for _ in range(5)]
    runs = final_runs(api, run_ids)
    assert {r["state_type"] for r in runs.values()} == {"COMPLETED"}, workers.output()
    # The most runs ever between their start and end records at the same moment.
    events = sorted((r["at"], 1 if r["event"] == "start" else -1) for r in read_records(records))
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak <= 2
    assert len([e for e in events if e[1] == 1]) == 5


def test_exit_and_kill_end_runs_crashed(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api)
    workers.start(pool)
    exited = make_run(api, pool, script, records, "exit", 7)
    killed = make_run(api, pool, script, records, "sleep", 600)
    started = wait_until(
        lambda: [r for r in read_records(records) if r["id"] == killed], "the run to start"
    )
    os.kill(started[0]["pid"], signal.SIGKILL)
    runs = final_runs(api, [exited, killed])
    assert runs[exited]["state_type"] == "CRASHED"
    assert "exit code 7" in runs[exited]["state"]["message"]
    assert runs[killed]["state_type"] == "CRASHED"
    assert "signal 9" in runs[killed]["state"]["message"]


def test_cancelling_terminates_the_process_and_ends_cancelled(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api)
    workers.start(pool)
    run_id = make_run(api, pool, script, records, "sleep", 600)
    [start] = wait_until(lambda: read_records(records), "the run to start")
    response = api.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}})
    assert response.json()["status"] == "ACCEPT"
    runs = final_runs(api, [run_id])
    assert runs[run_id]["state_type"] == "CANCELLED"

    def gone() -> bool:
        try:
            os.kill(start["pid"], 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, "the run's process to end")
    assert not [r for r in read_records(records) if r["event"] == "end"]


def test_ctrl_c_stops_the_worker_and_its_runs(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api)
    worker = workers.start(pool)
    run_id = make_run(api, pool, script, records, "sleep", 600)
    [start] = wait_until(lambda: read_records(records), "the run to start")
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=60) == 0, workers.output()
    run = final_runs(api, [run_id])[run_id]
    assert run["state_type"] == "CRASHED" and "shutting down" in run["state"]["message"]
    assert "Traceback" not in workers.output()
    with pytest.raises(ProcessLookupError):
        os.kill(start["pid"], 0)


def test_paused_pool_hands_out_nothing_until_resumed(
    api: httpx.Client, workers: Workers, script: Path, records: Path
) -> None:
    pool = new_pool(api, is_paused=True)
    workers.start(pool)
    run_id = make_run(api, pool, script, records, "sleep", 0)
    wait_until(
        lambda: api.post(f"/work_pools/{pool}/workers/filter", json={}).json(), "a heartbeat"
    )
    assert api.get(f"/work_pools/{pool}").json()["status"] == "PAUSED"
    time.sleep(1.0)  # a worker that ignored the pause would have taken it by now
    assert states(api, [run_id])[run_id]["state_type"] == "SCHEDULED"
    assert api.patch(f"/work_pools/{pool}", json={"is_paused": False}).status_code == 204
    assert final_runs(api, [run_id])[run_id]["state_type"] == "COMPLETED"


def test_server_shutdown_is_not_held_up_by_waiting_workers(
    tmp_path: Path, workers: Workers, server_database_url: str | None
) -> None:
    with socket.socket() as sock:  # a free loopback port for a server of its own
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWYARD_", "PREFECT_"))}
    env["FLOWYARD_HOME"] = str(tmp_path / "own-server")
    if server_database_url:
        env["FLOWYARD_DATABASE_URL"] = server_database_url
    log_path = tmp_path / "own-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(FLOWYARD), "server", "start", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=url, timeout=5) as api:
            wait_until(lambda: _healthy(api), "the server to start")
            workers.api_url = url
            workers.start("shutdown-pool")
            wait_until(lambda: _workers_of(api, "shutdown-pool"), "the worker to heartbeat")
        time.sleep(0.5)  # the worker is now waiting in its long-poll
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it handled once it has shut down.
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    text = log_path.read_text()
    assert "graceful shutdown exceeded" not in text and "Traceback" not in text, text
    assert "Internal Server Error" not in workers.output()


def _healthy(api: httpx.Client) -> bool:
    try:
        return api.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def _workers_of(api: httpx.Client, pool: str) -> list[Any]:
    response = api.post(f"/work_pools/{pool}/workers/filter", json={})
    return response.json() if response.status_code == 200 else []
