"""Never lost, never stuck: a flow run held by a process that is killed becomes Crashed and
its concurrency slots come back; a cancelled run stops and ends Cancelled, whether its own
heartbeat or a worker's SIGTERM stops it. Real server, real flow processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowyard.testing.server_process import clean_env, server_process

pytestmark = pytest.mark.e2e

FLOWYARD = Path(sys.executable).parent / "flowyard"
LEASE_SECONDS = 2.0
DEADLINE = 90.0

FLOW = """
import sys, time
from flowyard import flow, get_run_context
from flowyard.client import get_sync_client
from flowyard.schemas.actions import ConcurrencyLeaseHolder

@flow
def held():
    run_id = get_run_context().flow_run.id
    with get_sync_client() as client:
        client.increment_with_lease(
            ["crash-slots"], 1, holder=ConcurrencyLeaseHolder(type="flow_run", id=run_id)
        )
    print("READY", run_id, flush=True)
    for _ in range(600):
        time.sleep(0.5)

@flow
def parent():
    held()

parent() if sys.argv[1:] == ["nested"] else held()
"""


@pytest.fixture(scope="module")
def api_url(
    tmp_path_factory: pytest.TempPathFactory, server_database_url: str | None
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("crash-e2e") / "server-home"
    with server_process(
        home,
        server_database_url,
        FLOWYARD_SERVER_SERVICES_RUN_LEASES_LOOP_SECONDS="0.5",
        FLOWYARD_SERVER_SERVICES_CANCELLATION_LOOP_SECONDS="0.5",
    ) as url:
        yield url


@pytest.fixture
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client


def start_flow(
    api_url: str, tmp_path: Path, flow_processes: list[subprocess.Popen[str]], *args: str
) -> tuple[subprocess.Popen[str], str]:
    """Start the flow in its own process; return it and its flow run id once it runs."""
    script = tmp_path / "held_flow.py"
    script.write_text(textwrap.dedent(FLOW))
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        env=clean_env(
            FLOWYARD_API_URL=api_url,
            FLOWYARD_HOME=str(tmp_path / "client-home"),
            FLOWYARD_RUNNER_LEASES="true",
            FLOWYARD_RUNNER_LEASE_SECONDS=str(LEASE_SECONDS),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    flow_processes.append(proc)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.match(r"READY (\S+)", line)
        if found:
            return proc, found.group(1)
    proc.wait()
    pytest.fail("the flow never started:\n" + "".join(lines)[-3000:])


def wait_for_state(api: httpx.Client, run_id: str, kinds: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        state: dict[str, Any] = api.get(f"/flow_runs/{run_id}").json()["state"]
        if state["type"] in kinds or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def slots(api: httpx.Client, wait_for: int | None = None) -> int:
    """Slots held on the test's limit; with ``wait_for``, polled until it is reached."""
    deadline = time.monotonic() + DEADLINE
    while True:
        held = int(api.get("/v2/concurrency_limits/crash-slots").json()["active_slots"])
        if wait_for is None or held == wait_for or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


@pytest.fixture
def limit(api: httpx.Client) -> Iterator[None]:
    api.post("/v2/concurrency_limits/", json={"name": "crash-slots", "limit": 10})
    yield
    api.delete("/v2/concurrency_limits/crash-slots")


def test_a_killed_flow_process_crashes_its_run_and_frees_its_slots(
    api_url: str, api: httpx.Client, limit: None, tmp_path: Path, flow_processes: Any
) -> None:
    proc, run_id = start_flow(api_url, tmp_path, flow_processes)
    lease = api.post(f"/flow_runs/{run_id}/lease", json={"lease_seconds": LEASE_SECONDS})
    assert lease.json()["state_type"] == "RUNNING"
    assert slots(api) == 1
    time.sleep(LEASE_SECONDS * 1.5)  # the heartbeat keeps a live run's lease: not crashed
    assert api.get(f"/flow_runs/{run_id}").json()["state"]["type"] == "RUNNING"

    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    state = wait_for_state(api, run_id, {"CRASHED"})
    detected = time.time() - killed_at
    assert state["type"] == "CRASHED", state
    assert "stopped renewing its lease, which expired at" in state["message"]
    assert slots(api, wait_for=0) == 0
    print(f"crash detected {detected:.2f}s after SIGKILL (lease {LEASE_SECONDS:g}s)")


def test_a_cancelled_flow_stops_itself_and_ends_cancelled(
    api_url: str, api: httpx.Client, limit: None, tmp_path: Path, flow_processes: Any
) -> None:
    proc, run_id = start_flow(api_url, tmp_path, flow_processes)
    answer = api.post(
        f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}}
    ).json()
    assert answer["status"] == "ACCEPT"
    # The heartbeat learns of it and stops the flow in its process.
    proc.wait(timeout=DEADLINE)
    state = wait_for_state(api, run_id, {"CANCELLED", "CRASHED"})
    assert state["type"] == "CANCELLED", state
    assert slots(api, wait_for=0) == 0


def test_a_worker_terminating_a_cancelled_flow_leaves_it_cancelled(
    api_url: str, api: httpx.Client, limit: None, tmp_path: Path, flow_processes: Any
) -> None:
    proc, run_id = start_flow(api_url, tmp_path, flow_processes)
    # What a worker does: the run goes to Cancelling, then the process gets SIGTERM.
    api.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CANCELLING"}})
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=DEADLINE)
    state = wait_for_state(api, run_id, {"CANCELLED", "CRASHED"})
    assert state["type"] == "CANCELLED", state
    assert slots(api, wait_for=0) == 0


def test_cancelling_a_parent_flow_cancels_its_running_subflow(
    api_url: str, api: httpx.Client, limit: None, tmp_path: Path, flow_processes: Any
) -> None:
    proc, child_id = start_flow(api_url, tmp_path, flow_processes, "nested")
    tracking = api.get(f"/flow_runs/{child_id}").json()["parent_task_run_id"]
    parent_id = api.get(f"/task_runs/{tracking}").json()["flow_run_id"]
    api.post(f"/flow_runs/{parent_id}/set_state", json={"state": {"type": "CANCELLING"}})
    proc.wait(timeout=DEADLINE)
    assert wait_for_state(api, parent_id, {"CANCELLED", "CRASHED"})["type"] == "CANCELLED"
    assert wait_for_state(api, child_id, {"CANCELLED", "CRASHED"})["type"] == "CANCELLED"
    assert slots(api, wait_for=0) == 0
