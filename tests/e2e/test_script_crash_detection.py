"""No run stuck in Running (issue 9, point 3): a plain ``python my_flow.py`` -- no worker,
no ``serve()``, no setting -- killed with ``kill -9`` mid-run has its runs Crashed (the
subflow's too) and its concurrency slots given back; a healthy run longer than several
lease periods is left alone; and a run killed in embedded mode (no server) is Crashed the
next time Flowyard starts on its database. Real server, real flow processes."""

from __future__ import annotations

import os
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

from flowyard.testing.databases import fresh_postgres_database
from flowyard.testing.server_process import clean_env, server_process

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 2.0
DEADLINE = 120.0  # generous: the machine may be loaded; nothing here is timed

# A parent flow holding a slot of a global limit, its subflow running a task that holds a
# slot of a tag limit; the task announces the three run ids, then blocks.
HELD = """
import sys, time
from flowyard import concurrency, flow, get_run_context, task

@task(tags=["crash-tag"])
def hold_tag(parent_id, child_id):
    task_id = get_run_context().task_run.id
    print("READY", parent_id, child_id, task_id, flush=True)
    time.sleep(600)

@flow
def child(parent_id):
    hold_tag(parent_id, get_run_context().flow_run.id)

@flow
def parent():
    with concurrency("crash-global"):
        child(get_run_context().flow_run.id)

parent()
"""

# Longer than several lease periods, busy in the main thread (holding the GIL), then done.
HEALTHY = """
import sys, time
from flowyard import flow, get_run_context

@flow
def healthy(seconds):
    print("READY", get_run_context().flow_run.id, flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(10_000))
    return "done"

healthy(float(sys.argv[1]))
"""

BLOCKED = """
import time
from flowyard import flow, get_run_context

@flow
def blocked():
    print("READY", get_run_context().flow_run.id, flush=True)
    time.sleep(600)

blocked()
"""

READ_STATE = """
import sys, uuid
from flowyard.client import get_sync_client

with get_sync_client() as client:
    print("STATE", client.read_flow_run(uuid.UUID(sys.argv[1])).state.type, flush=True)
"""


@pytest.fixture(scope="module")
def api_url(
    tmp_path_factory: pytest.TempPathFactory, server_database_url: str | None
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("script-crash-e2e") / "server-home"
    with server_process(
        home, server_database_url, FLOWYARD_SERVER_SERVICES_RUN_LEASES_LOOP_SECONDS="0.5"
    ) as url:
        yield url


@pytest.fixture
def api(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        yield client


def run_script(
    source: str,
    folder: Path,
    flow_processes: list[subprocess.Popen[str]],
    *args: str,
    **env: str,
) -> tuple[subprocess.Popen[str], list[str]]:
    """``python my_flow.py`` with only ``env`` set; returns it and the words of its READY
    line once the flow prints it."""
    script = folder / "my_flow.py"
    script.write_text(textwrap.dedent(source))
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        env=clean_env(FLOWYARD_RUNNER_LEASE_SECONDS=str(LEASE_SECONDS), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=folder,
    )
    flow_processes.append(proc)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("READY "):
            return proc, line.split()[1:]
    proc.wait()
    pytest.fail("the flow never started:\n" + "".join(lines)[-3000:])


def state_of(api: httpx.Client, kind: str, run_id: str) -> dict[str, Any]:
    state: dict[str, Any] = api.get(f"/{kind}/{run_id}").json()["state"]
    return state


def wait_until_not_running(api: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        state = state_of(api, "flow_runs", run_id)
        if state["type"] != "RUNNING" or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


@pytest.fixture
def limits(api: httpx.Client) -> Iterator[None]:
    api.post("/v2/concurrency_limits/", json={"name": "crash-global", "limit": 5})
    api.post("/concurrency_limits/", json={"tag": "crash-tag", "concurrency_limit": 5})
    yield
    api.delete("/v2/concurrency_limits/crash-global")
    api.delete("/concurrency_limits/tag/crash-tag")


def global_slots(api: httpx.Client) -> int:
    return int(api.get("/v2/concurrency_limits/crash-global").json()["active_slots"])


def tag_slots(api: httpx.Client) -> list[str]:
    slots: list[str] = api.get("/concurrency_limits/tag/crash-tag").json()["active_slots"]
    return slots


def test_a_killed_plain_script_crashes_its_runs_and_gives_back_their_slots(
    api_url: str, api: httpx.Client, limits: None, tmp_path: Path, flow_processes: Any
) -> None:
    proc, (parent_id, child_id, task_id) = run_script(
        HELD, tmp_path, flow_processes, FLOWYARD_API_URL=api_url, FLOWYARD_HOME=str(tmp_path / "h")
    )
    assert state_of(api, "flow_runs", parent_id)["type"] == "RUNNING"
    assert state_of(api, "flow_runs", child_id)["type"] == "RUNNING"
    assert global_slots(api) == 1 and tag_slots(api) == [task_id]
    # Task runs are reported in batches (every second): the server learns of the task run,
    # and so of which flow run holds its tag slot, with the next one.
    deadline = time.monotonic() + DEADLINE
    while api.get(f"/task_runs/{task_id}").status_code == 404:
        assert time.monotonic() < deadline, "the task run was never reported"
        time.sleep(0.1)

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Each crash gives the slots back in its own transaction: once a run reads Crashed,
    # its slots are free (long before the concurrency leases could expire on their own).
    child = wait_until_not_running(api, child_id)
    assert child["type"] == "CRASHED", child
    assert "stopped renewing its lease" in child["message"]
    assert state_of(api, "task_runs", task_id)["type"] == "CRASHED"
    assert tag_slots(api) == []
    parent = wait_until_not_running(api, parent_id)
    assert parent["type"] == "CRASHED", parent
    assert global_slots(api) == 0


def test_a_healthy_run_longer_than_several_lease_periods_is_not_crashed(
    api_url: str, api: httpx.Client, tmp_path: Path, flow_processes: Any
) -> None:
    proc, (run_id,) = run_script(
        HEALTHY,
        tmp_path,
        flow_processes,
        str(LEASE_SECONDS * 4),
        FLOWYARD_API_URL=api_url,
        FLOWYARD_HOME=str(tmp_path / "h"),
    )
    assert proc.wait(timeout=DEADLINE) == 0
    history = api.get("/flow_run_states/", params={"flow_run_id": run_id}).json()
    assert [s["type"] for s in history] == ["PENDING", "RUNNING", "COMPLETED"], history


@pytest.fixture
def embedded_database_url() -> Iterator[str | None]:
    """None (SQLite in the home), or with FLOWYARD_TEST_DATABASE_URL a PostgreSQL database
    of this test's own: no server's run-leases service may settle the run in its place."""
    server_url = os.environ.get("FLOWYARD_TEST_DATABASE_URL")
    if not server_url:
        yield None
        return
    with fresh_postgres_database(server_url, "fy_e2e_embedded") as url:
        yield url


def test_a_killed_embedded_run_is_crashed_when_flowyard_next_starts_on_its_database(
    tmp_path: Path, flow_processes: Any, embedded_database_url: str | None
) -> None:
    env = {"FLOWYARD_HOME": str(tmp_path / "embedded-home")}
    if embedded_database_url:
        env["FLOWYARD_DATABASE_URL"] = embedded_database_url
    proc, (run_id,) = run_script(BLOCKED, tmp_path, flow_processes, **env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    reader = tmp_path / "read_state.py"
    reader.write_text(textwrap.dedent(READ_STATE))
    deadline = time.monotonic() + DEADLINE
    while True:
        # Each start of Flowyard on the database (here: a client in embedded mode) settles
        # the runs whose lease expired; the first ones may come before it has.
        out = subprocess.run(
            [sys.executable, str(reader), run_id],
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
        found = re.search(r"STATE (\S+)", out.stdout)
        assert found, out.stdout + out.stderr
        if found.group(1) != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(LEASE_SECONDS / 2)
    assert found.group(1) == "CRASHED"


# The official client (prefect 3.9.1) emits a prefect.flow-run.heartbeat event as its run
# starts and every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (180 by default) after: each
# one is its lease (FLOWYARD_SERVER_SERVICES_RUN_LEASES_HEARTBEAT_EVENT_SECONDS).
OFFICIAL = """
import time
from prefect import flow
from prefect.runtime import flow_run

@flow
def official_held():
    print("READY", flow_run.id, flush=True)
    time.sleep(600)

official_held()
"""


def test_a_killed_official_client_run_is_crashed_once_its_heartbeats_stop(
    prefect_python: Path, tmp_path: Path, flow_processes: Any, server_database_url: str | None
) -> None:
    with (
        server_process(
            tmp_path / "server-home",
            server_database_url,
            FLOWYARD_SERVER_SERVICES_RUN_LEASES_LOOP_SECONDS="0.5",
            FLOWYARD_SERVER_SERVICES_RUN_LEASES_HEARTBEAT_EVENT_SECONDS=str(LEASE_SECONDS * 2),
        ) as url,
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        script = tmp_path / "official_flow.py"
        script.write_text(textwrap.dedent(OFFICIAL))
        proc = subprocess.Popen(
            [str(prefect_python), str(script)],
            env=clean_env(PREFECT_API_URL=url, PREFECT_HOME=str(tmp_path / "prefect-home")),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        flow_processes.append(proc)
        assert proc.stdout is not None
        run_id = ""
        for line in proc.stdout:
            if line.startswith("READY "):
                run_id = line.split()[1]
                break
        assert run_id, "the official flow never started"
        # Killed only once its first heartbeat is in: before that it holds no lease.
        deadline = time.monotonic() + DEADLINE
        body = {
            "filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{run_id}"]},
            }
        }
        while not api.post("/events/filter", json=body).json()["events"]:
            assert time.monotonic() < deadline, "no heartbeat event arrived"
            time.sleep(0.2)
        assert state_of(api, "flow_runs", run_id)["type"] == "RUNNING"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = wait_until_not_running(api, run_id)
    assert state["type"] == "CRASHED", state
