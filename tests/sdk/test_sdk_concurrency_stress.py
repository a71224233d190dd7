"""50 contenders for a limit of 3: the limit is never exceeded and every slot comes back.

Each body records its start and end (``time.monotonic``, one clock for every process on
the machine) while it holds its slot; the most intervals open at one instant must not
exceed the limit. Both a tag limit (``@task(tags=...)`` submitted to a thread pool) and a
global limit (``concurrency()`` in tasks of several real processes), each against a real
``flowyard server start`` and in embedded mode (the processes share the database).
"""

from __future__ import annotations

import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from concurrency_helpers import clean_env, max_overlap, read_intervals, server, spawn

from flowyard import flow, get_run_context, task
from flowyard.client import SyncFlowyardClient, get_sync_client
from flowyard.sdk.engine import api
from flowyard.sdk.task_runners import ThreadPoolTaskRunner

LIMIT = 3
TASKS = 50
PROCESSES = 5
PROCESS_DEADLINE = 300.0

pytestmark = pytest.mark.e2e


@dataclass
class Target:
    """Where runs are recorded: the env for this process and for worker processes."""

    kind: str
    child_env: dict[str, str]


@pytest.fixture(params=["server", "embedded"])
def target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    flowyard_home: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Target]:
    postgres = database_url.startswith("postgresql")
    if request.param == "server":
        with server(tmp_path / "server-home", database_url) as url:
            monkeypatch.setenv("FLOWYARD_API_URL", url)
            yield Target("server", clean_env(FLOWYARD_API_URL=url, FLOWYARD_HOME=str(tmp_path)))
        return
    env = clean_env(FLOWYARD_HOME=str(flowyard_home))
    if postgres:
        monkeypatch.setenv("FLOWYARD_DATABASE_URL", database_url)
        env["FLOWYARD_DATABASE_URL"] = database_url
    yield Target("embedded", env)


def _all_returned(client: SyncFlowyardClient, name: str) -> None:
    limit = client.read_concurrency_limit(name)
    assert limit.active_slots == 0, f"{limit.active_slots} slots of {name} still held"
    assert client.read_concurrency_leases(name) == []


def test_tag_limit_with_submitted_tasks(target: Target) -> None:
    client = get_sync_client()
    try:
        client.create_tag_concurrency_limit("stress", LIMIT)
        intervals: list[tuple[float, float]] = []
        lock = threading.Lock()

        @task(tags=["stress"])
        def body(i: int) -> int:
            start = time.monotonic()
            time.sleep(0.02)
            end = time.monotonic()
            with lock:
                intervals.append((start, end))
            return i

        @flow(task_runner=ThreadPoolTaskRunner(max_workers=16))
        def contend() -> tuple[list[int], Any]:
            futures = [body.submit(i) for i in range(TASKS)]
            flow_run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
            return [f.result() for f in futures], flow_run_id

        results, flow_run_id = contend()
        assert results == list(range(TASKS))
        assert len(intervals) == TASKS
        assert max_overlap(intervals) <= LIMIT
        _all_returned(client, "tag:stress")
        reporter = api.current_reporter()
        assert reporter is not None and reporter.flush(timeout=60)
        runs = client.read_task_runs(limit=200)
        ours = [r for r in runs if r.flow_run_id == flow_run_id]
        assert len(ours) == TASKS and {r.state_name for r in ours} == {"Completed"}
        # With 16 threads on 3 slots some runs had to wait, and their states show it.
        waited = [
            r.id
            for r in ours
            if "AwaitingConcurrencySlot" in {s.name for s in client.read_task_run_states(r.id)}
        ]
        assert waited
    finally:
        client.close()


WORKER = textwrap.dedent(
    """
    import sys
    import time

    from flowyard import concurrency, flow, task
    from flowyard.sdk.task_runners import ThreadPoolTaskRunner

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


    @task
    def body(i: int) -> None:
        with concurrency(name, occupy=1, timeout_seconds=600):
            start = time.monotonic()
            time.sleep(0.02)
            end = time.monotonic()
            with open(path, "a") as out:  # one short append: one atomic write
                out.write(f"{start} {end}\\n")


    @flow(task_runner=ThreadPoolTaskRunner(max_workers=count))
    def contend() -> None:
        for future in [body.submit(i) for i in range(count)]:
            future.result()


    contend()
    print("done", flush=True)
    """
)


def test_global_limit_from_several_processes(target: Target, tmp_path: Path) -> None:
    client = get_sync_client()
    try:
        name = f"gstress-{uuid.uuid4().hex[:6]}"
        client.create_concurrency_limit(name, LIMIT)
        script = tmp_path / "worker.py"
        script.write_text(WORKER)
        record = tmp_path / "intervals.txt"
        record.touch()
        per_process = TASKS // PROCESSES
        procs = [
            spawn(
                script,
                [str(record), name, str(per_process)],
                target.child_env,
                tmp_path / f"worker-{i}.log",
            )
            for i in range(PROCESSES)
        ]
        for i, proc in enumerate(procs):
            code = proc.wait(timeout=PROCESS_DEADLINE)
            log = (tmp_path / f"worker-{i}.log").read_text()
            assert code == 0 and "done" in log, log[-3000:]
        intervals = read_intervals(record)
        assert len(intervals) == PROCESSES * per_process == TASKS
        assert max_overlap(intervals) <= LIMIT
        _all_returned(client, name)
    finally:
        client.close()
