"""On time (issue 4): from a run's scheduled time to its flow body starting on an idle worker.

For each server (Flowyard, then Prefect 3.9.1), on a fresh SQLite home and a free loopback
port: a ``process`` work pool, a deployment of a one-line flow kept in a temporary folder
(pulled with ``set_working_directory``), and that server's own worker started with its
defaults (``flowyard worker start --pool P``; ``prefect worker start --pool P --type
process``). After one untimed warm-up run, runs are created one at a time through
``POST /deployments/{id}/create_flow_run``, due now or 3 s ahead; the flow body writes
``time.time()`` to a file as its first statement. Latency = that stamp minus the run's
scheduled time. Each run finishes before the next is created, so the worker is idle.

Run: ``.venv/bin/python bench/run.py --only on_time [--quick]``.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import statistics
import subprocess
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import report
from servers import RunningServer, ServerSpec, flowyard_spec, prefect_spec

SECTION = "## On time (issue 4)"
POOL = "on-time-pool"
AHEAD_SECONDS = 3.0
# Before each measured run: the worker has been idle this long (not just finishing a run).
IDLE_SECONDS = 2.0
RUN_TIMEOUT = 90.0
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
CREATE_ATTEMPTS = 5
RETRIED: dict[int, int] = {}  # 503 answers to create_flow_run, by server port

FLOW_SOURCE = """
import time
from {module} import flow


@flow(name="on-time")
def on_time(out: str, key: str) -> None:
    stamp = time.time()  # first thing the body does
    with open(out, "a") as f:
        f.write(f"{{key}} {{stamp!r}}\\n")
"""

# The process pool template both servers' workers understand (what `prefect work-pool create
# --type process` stores).
PROCESS_TEMPLATE: dict[str, Any] = {
    "job_configuration": {
        "command": "{{ command }}",
        "env": "{{ env }}",
        "labels": "{{ labels }}",
        "name": "{{ name }}",
        "stream_output": "{{ stream_output }}",
        "working_dir": "{{ working_dir }}",
    },
    "variables": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "command": {"type": "string"},
            "stream_output": {"type": "boolean", "default": True},
            "working_dir": {"type": "string", "format": "path"},
        },
    },
}
PARAMETER_SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "out": {"title": "out", "type": "string", "position": 0},
        "key": {"title": "key", "type": "string", "position": 1},
    },
    "required": ["out", "key"],
}


@dataclass
class Target:
    spec: ServerSpec
    module: str  # what the flow file imports `flow` from
    worker_argv: list[str]
    api_var: str  # the worker's API URL setting
    home_var: str
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.spec.label


def targets(flowyard: bool, prefect_python: Path | None) -> list[Target]:
    out: list[Target] = []
    if flowyard:
        spec = flowyard_spec()
        argv = [str(spec.executable), "worker", "start", "--pool", POOL]
        out.append(Target(spec, "flowyard", argv, "FLOWYARD_API_URL", "FLOWYARD_HOME"))
        # The same without the spare interpreter: every run pays for a cold Python start.
        cold = Target(
            spec,
            "flowyard",
            [*argv, "--no-warm"],
            "FLOWYARD_API_URL",
            "FLOWYARD_HOME",
            "Flowyard --no-warm",
        )
        out.append(cold)
    if prefect_python is not None:
        spec = prefect_spec(prefect_python)
        argv = [str(spec.executable), "worker", "start", "--pool", POOL, "--type", "process"]
        out.append(Target(spec, "prefect", argv, "PREFECT_API_URL", "PREFECT_HOME"))
    return out


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


def setup_deployment(api: httpx.Client, flow_dir: Path) -> str:
    _ok(
        api.post(
            "/work_pools/",
            json={"name": POOL, "type": "process", "base_job_template": PROCESS_TEMPLATE},
        )
    )
    flow = _ok(api.post("/flows/", json={"name": "on-time"}))
    body = {
        "name": "bench",
        "flow_id": flow["id"],
        "entrypoint": "on_time_flow.py:on_time",
        "path": None,
        "pull_steps": [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(flow_dir)}}
        ],
        "work_pool_name": POOL,
        "parameter_openapi_schema": PARAMETER_SCHEMA,
        "parameters": {},
        "enforce_parameter_schema": True,
        "job_variables": {},
    }
    deployment_id: str = _ok(api.post("/deployments/", json=body))["id"]
    return deployment_id


def stamps(out: Path) -> dict[str, float]:
    if not out.exists():
        return {}
    found = {}
    for line in out.read_text().splitlines():
        key, _, stamp = line.partition(" ")
        if stamp:
            found[key] = float(stamp)
    return found


def one_run(api: httpx.Client, deployment_id: str, out: Path, ahead: float) -> float:
    """Seconds from the run's scheduled time to its body starting."""
    time.sleep(IDLE_SECONDS)
    key = uuid.uuid4().hex
    for attempt in range(CREATE_ATTEMPTS):
        scheduled = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ahead)
        body = {
            "state": {
                "type": "SCHEDULED",
                "name": "Scheduled",
                "state_details": {"scheduled_time": scheduled.isoformat()},
            },
            "parameters": {"out": str(out), "key": key},
        }
        response = api.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
        if response.status_code != 503 or attempt == CREATE_ATTEMPTS - 1:
            break
        # A server whose SQLite file is locked says 503: ask again, as its client would.
        RETRIED[api.base_url.port or 0] = RETRIED.get(api.base_url.port or 0, 0) + 1
        time.sleep(0.5)
    run = _ok(response)
    deadline = time.monotonic() + RUN_TIMEOUT + ahead
    while time.monotonic() < deadline:
        stamp = stamps(out).get(key)
        if stamp is not None:
            break
        time.sleep(0.01)
    else:
        raise TimeoutError(f"run {run['id']} did not start within {RUN_TIMEOUT:g} s")
    # Wait for it to finish so that the next run finds the worker idle.
    while time.monotonic() < deadline:
        if _ok(api.get(f"/flow_runs/{run['id']}"))["state_type"] in FINAL:
            break
        time.sleep(0.05)
    return stamp - scheduled.timestamp()


def describe(values: list[float]) -> str:
    if not values:
        return "no runs"
    return (
        f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f}), n={len(values)}"
    )


def bench_target(target: Target, runs: int, table: report.Table, workdir: Path) -> None:
    label = target.label
    home = workdir / f"{target.module}-home"
    flow_dir = workdir / f"{target.module}-flow"
    flow_dir.mkdir(parents=True)
    (flow_dir / "on_time_flow.py").write_text(FLOW_SOURCE.format(module=target.module))
    out = workdir / f"{target.module}-stamps.txt"
    print(f"== {label}: server", flush=True)
    server = RunningServer(target.spec, home)
    worker = None
    try:
        with httpx.Client(base_url=server.api_url, timeout=30) as api:
            deployment_id = setup_deployment(api, flow_dir)
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))
            }
            env[target.api_var] = server.api_url
            env[target.home_var] = str(workdir / f"{target.module}-worker-home")
            log = workdir / f"{target.module}-worker.log"
            with log.open("wb") as sink:
                worker = subprocess.Popen(
                    target.worker_argv,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            print(f"== {label}: warm-up run", flush=True)
            one_run(api, deployment_id, out, 0.0)
            for title, ahead in (("due now", 0.0), (f"{AHEAD_SECONDS:g} s ahead", AHEAD_SECONDS)):
                print(f"== {label}: {runs} runs {title}", flush=True)
                values = [one_run(api, deployment_id, out, ahead) for _ in range(runs)]
                row = f"scheduled time → flow body starts, run {title}"
                table.setdefault(row, {})[label] = describe(values)
            retried = RETRIED.get(api.base_url.port or 0, 0)
            table.setdefault("create_flow_run answered 503 (asked again)", {})[label] = str(retried)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, 15)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
                worker.wait()
        server.stop()


def run(
    flowyard: bool,
    prefect_python: Path | None,
    quick: bool,
    write: bool,
    command: list[str],
    machine: str,
) -> report.Table:
    runs = 4 if quick else 10
    chosen = targets(flowyard, prefect_python)
    table: report.Table = {}
    with tempfile.TemporaryDirectory(prefix="flowyard-on-time-") as tmp:
        for target in chosen:
            try:
                folder = Path(tmp) / f"{target.module}-{len(table)}-{uuid.uuid4().hex[:6]}"
                bench_target(target, runs, table, folder)
            except Exception as exc:
                traceback.print_exc()
                table.setdefault("error", {})[target.label] = f"{type(exc).__name__}: {exc}"
    labels = [t.label for t in chosen]
    print()
    print(report.render_table(table, labels))
    if write:
        notes = [
            "Each server on a fresh SQLite home, with its own worker (defaults: Flowyard's "
            "long-poll; Prefect's 10 s poll with prefetch), one deployment of a flow kept in a "
            "temporary folder (`set_working_directory` pull step); the worker runs each flow "
            "run in a process of its own (`python -m flowyard.sdk.execute` / `prefect "
            "flow-run execute`). Flowyard's worker keeps one interpreter started ahead with "
            "the flow-run machinery imported, and hands it the next run; `--no-warm` starts "
            "a fresh interpreter per run instead.",
            "Latency: the flow body's first `time.time()` minus the run's scheduled time; "
            "median (min–max) of n runs, each created only after the previous one finished "
            f"and the worker then sat idle for {IDLE_SECONDS:g} s, after one untimed "
            "warm-up run.",
            "Due now: scheduled time = the moment of the create request. Ahead: scheduled "
            f"{AHEAD_SECONDS:g} s after it.",
        ]
        section = report.render_section(
            table, labels, shlex.join(command), machine, notes, section=SECTION
        )
        report.write_results(section)
        print(f"\nwritten to {report.RESULTS_PATH} ({SECTION})")
    return table
