"""SDK overhead: Flowyard's ``flow``/``task`` side by side with Prefect 3.9.1's.

Run from the repo root:  .venv/bin/python bench/run.py --only sdk [--quick] [--server NAME]

Four targets, one after the other: Flowyard against its local server, Flowyard embedded (no
FLOWYARD_API_URL: the app runs in-process on SQLite), Prefect against its local server, and
Prefect "embedded" (no PREFECT_API_URL: it starts a temporary server for the process). Each
workload (bench/workloads/sdk_workload.py) runs in a fresh interpreter of that SDK's venv, on a
fresh home directory, with the same flow shapes for both SDKs. Around every task workload the
harness reads the server's CPU time (/proc utime+stime of its process tree) while it runs and
until it has been idle for a while, the SQLite size (page_count * page_size, i.e. including
what is still in the WAL) and the number of task runs the API reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import report
from servers import (
    RunningServer,
    ServerSpec,
    ServerStartError,
    flowyard_spec,
    prefect_spec,
    process_tree,
)

SECTION = "## SDK overhead (issue 3)"
WORKLOAD = Path(__file__).resolve().parent / "workloads" / "sdk_workload.py"
FLOW_RUNS = 20
TASKS = 1_000
WORKLOAD_TIMEOUT = 300.0  # seconds, per workload process
IMPORT_REPEATS = 5
TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.25  # seconds between server CPU samples
IDLE_FOR = 2.0  # the server counts as idle again after this long under the threshold
IDLE_TIMEOUT = 90.0  # stop waiting for the server to go idle after this long
BUSY_CORE_FRACTION = 0.10  # a sample interval above this share of one core is "busy"
TARGET_COLUMN = "target (issue 3)"
KIB = 1024


@dataclass(frozen=True)
class Target:
    """One column: an SDK, its interpreter, and a server to talk to (None: embedded)."""

    label: str
    sdk: str  # "flowyard" or "prefect": the module the workload imports
    python: Path
    home_var: str
    api_var: str
    db_name: str
    server: ServerSpec | None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.server is None


def targets(flowyard: bool, prefect_python: Path | None) -> list[Target]:
    chosen: list[Target] = []
    if flowyard:
        spec = flowyard_spec()
        python = Path(sys.executable)
        common = ("FLOWYARD_HOME", "FLOWYARD_API_URL", "flowyard.db")
        chosen.append(Target("Flowyard, server", "flowyard", python, *common, spec))
        chosen.append(Target("Flowyard, embedded", "flowyard", python, *common, None))
    if prefect_python is not None:
        spec = prefect_spec(prefect_python)
        common = ("PREFECT_HOME", "PREFECT_API_URL", "prefect.db")
        label = spec.label
        chosen.append(
            Target(f"{label}, server", "prefect", prefect_python, *common, spec, spec.extra_env)
        )
        chosen.append(
            Target(f"{label}, ephemeral", "prefect", prefect_python, *common, None, spec.extra_env)
        )
    return chosen


# ---- measuring ------------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``'s live process tree, plus its reaped children."""
    ticks = 0
    for index, member in enumerate(process_tree(pid)):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        # After the ')': state is field 3, utime 14, stime 15, cutime 16, cstime 17.
        ticks += int(fields[11]) + int(fields[12])
        if index == 0:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def db_bytes(path: Path) -> int:
    """The database's logical size: page_count * page_size, WAL content included."""
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    return int(pages) * int(size)


def db_task_runs(path: Path) -> tuple[int, int]:
    """(task runs, completed task runs) straight from an embedded database file."""
    if not path.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        total = db.execute("SELECT count(*) FROM task_run").fetchone()[0]
        done = db.execute("SELECT count(*) FROM task_run WHERE state_type = 'COMPLETED'")
        return int(total), int(done.fetchone()[0])


def api_task_runs(api_url: str) -> tuple[int, int]:
    """(task runs, completed task runs) via ``POST /task_runs/count``."""
    completed = {"task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
    with httpx.Client(base_url=api_url, timeout=30.0) as client:
        counts = []
        for body in ({}, completed):
            response = client.post("/task_runs/count", json=body)
            response.raise_for_status()
            counts.append(int(response.json()))
    return counts[0], counts[1]


class CpuSampler:
    """Samples a server's CPU time; knows its idle rate and when it was last busy."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []  # (wall time.time(), cpu seconds)
        self.idle_rate = 0.0

    def sample(self) -> None:
        self.samples.append((time.time(), tree_cpu_seconds(self.pid)))

    def calibrate(self, seconds: float) -> None:
        """The server's background CPU rate (cores) while nobody talks to it."""
        start = (time.time(), tree_cpu_seconds(self.pid))
        time.sleep(seconds)
        end = (time.time(), tree_cpu_seconds(self.pid))
        self.idle_rate = (end[1] - start[1]) / (end[0] - start[0])

    @property
    def busy_threshold(self) -> float:
        return max(BUSY_CORE_FRACTION, 3 * self.idle_rate)

    def last_busy(self) -> float | None:
        """End of the last sample interval with CPU above the threshold, if any."""
        found = None
        for (t0, c0), (t1, c1) in zip(self.samples, self.samples[1:], strict=False):
            if t1 > t0 and (c1 - c0) / (t1 - t0) > self.busy_threshold:
                found = t1
        return found

    def idle_since(self, seconds: float) -> bool:
        if not self.samples or self.samples[-1][0] - self.samples[0][0] < seconds:
            return False
        last_busy = self.last_busy()
        return last_busy is None or self.samples[-1][0] - last_busy >= seconds


class WorkloadError(RuntimeError):
    pass


def run_workload(
    target: Target,
    home: Path,
    api_url: str | None,
    args: list[str],
    sampler: CpuSampler | None = None,
) -> dict[str, Any]:
    """One workload in a fresh interpreter; samples ``sampler`` while it runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    env.update(target.extra_env)
    env[target.home_var] = str(home)
    if api_url:
        env[target.api_var] = api_url
    log_path = home.parent / f"{home.name}-{args[0]}.log"
    argv = [str(target.python), str(WORKLOAD), target.sdk, *args]
    home.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its group holds anything it spawns (Prefect's temp server)
        )
        deadline = time.monotonic() + WORKLOAD_TIMEOUT
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise WorkloadError(f"{args[0]} did not finish in {WORKLOAD_TIMEOUT:g} s")
                if sampler is not None:
                    sampler.sample()
                time.sleep(SAMPLE_EVERY)
        finally:
            # Whatever the workload left running in its own process group (none, normally).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL if proc.poll() is None else signal.SIGTERM)
            proc.wait(timeout=30)
    lines = log_path.read_text(errors="replace").strip().splitlines()
    # The SDK may still write to the console at exit (Prefect logs its temporary server's
    # shutdown, sometimes with a traceback): the result is the last line that is one.
    found = [line for line in lines if line.startswith('{"sdk"')]
    if proc.returncode != 0 or not found:
        tail = " / ".join(lines[-3:])
        raise WorkloadError(f"{args[0]} exited with {proc.returncode}: {tail}")
    result: dict[str, Any] = json.loads(found[-1])
    return result


@dataclass
class TaskRecord:
    """What one task workload left behind on the server / in the database."""

    created: int
    at_return: int | None = None
    recorded: int = 0
    completed: int = 0
    db_growth: int = 0
    server_cpu: float | None = None
    busy_after: float | None = None


def measure_task_workload(
    target: Target,
    home: Path,
    client_home: Path,
    server: RunningServer | None,
    sampler: CpuSampler | None,
    args: list[str],
) -> tuple[dict[str, Any], TaskRecord]:
    db_path = home / target.db_name
    before_bytes = db_bytes(db_path)
    if server is not None and sampler is not None:
        before_runs, before_completed = api_task_runs(server.api_url)
        sampler.samples.clear()
        sampler.sample()
    else:
        before_runs, before_completed = db_task_runs(db_path)
    api_url = server.api_url if server is not None else None
    result = run_workload(target, client_home, api_url, args, sampler)
    created = result["n"] * len(result["runs"])
    record = TaskRecord(created)
    if server is not None and sampler is not None:
        if result.get("count_at_return") is not None:
            record.at_return = result["count_at_return"] - before_runs
        # Keep sampling until the server has been idle for IDLE_FOR seconds (bounded).
        stop_at = time.monotonic() + IDLE_TIMEOUT
        while not sampler.idle_since(IDLE_FOR) and time.monotonic() < stop_at:
            time.sleep(SAMPLE_EVERY)
            sampler.sample()
        (t0, c0), (t1, c1) = sampler.samples[0], sampler.samples[-1]
        record.server_cpu = max(0.0, (c1 - c0) - sampler.idle_rate * (t1 - t0))
        last_busy = sampler.last_busy()
        record.busy_after = max(0.0, last_busy - result["returned_at"]) if last_busy else 0.0
        if not sampler.idle_since(IDLE_FOR):
            record.busy_after = None  # still busy when we gave up waiting
        total, completed = api_task_runs(server.api_url)
    else:
        total, completed = db_task_runs(db_path)
    record.recorded = total - before_runs
    record.completed = completed - before_completed
    record.db_growth = db_bytes(db_path) - before_bytes
    return result, record


# ---- one target -----------------------------------------------------------------------


@dataclass(frozen=True)
class SdkPlan:
    repeats: int  # flow runs of TASKS sequential tasks in the sequential workload
    calibrate_seconds: float


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def us(seconds: float) -> str:
    value = seconds * 1e6
    return f"{value:,.0f} µs" if value >= 10 else f"{value:,.2f} µs"


def bench_target(target: Target, plan: SdkPlan, table: report.Table, workdir: Path) -> None:
    label = target.label

    def cell(metric: str, text: str) -> None:
        table.setdefault(metric, {})[label] = text

    slug = label.split(",")[0].split()[0].lower() + ("-embedded" if target.embedded else "-server")
    home = workdir / slug
    # With a server, the client gets its own home: it must never touch the server's database.
    client_home = home if target.embedded else workdir / f"{slug}-client"
    server: RunningServer | None = None
    sampler: CpuSampler | None = None
    if target.server is not None:
        print(f"== {label}: starting the server", flush=True)
        try:
            server = RunningServer(target.server, home)
        except (ServerStartError, OSError) as exc:
            cell("empty flow run, median of 20", f"server failed to start: {str(exc)[:100]}")
            return
        sampler = CpuSampler(server.proc.pid)
        sampler.calibrate(plan.calibrate_seconds)
    api_url = server.api_url if server is not None else None
    records: list[TaskRecord] = []
    try:
        print(f"== {label}: {FLOW_RUNS} empty flow runs", flush=True)
        try:
            result = run_workload(target, client_home, api_url, ["flow_runs", str(FLOW_RUNS)])
            cell(f"empty flow run, median of {FLOW_RUNS}", ms(result["median_ms"] / 1000))
            cell(
                "first flow run in the process (incl. client setup)", ms(result["first_ms"] / 1000)
            )
        except (WorkloadError, OSError, ValueError) as exc:
            cell(f"empty flow run, median of {FLOW_RUNS}", f"error: {str(exc)[:120]}")

        print(f"== {label}: {plan.repeats} flows of {TASKS:,} sequential tasks", flush=True)
        args = ["sequential", str(TASKS), str(plan.repeats)]
        try:
            result, record = measure_task_workload(target, home, client_home, server, sampler, args)
            records.append(record)
            runs = result["runs"]
            inner = statistics.fmean(run["inner_s"] for run in runs) / TASKS
            total = statistics.fmean(run["total_s"] for run in runs) / TASKS
            of = f"mean of {len(runs)} flows" if len(runs) > 1 else "1 flow"
            cell(f"sequential task, loop in the flow body ({of})", us(inner))
            cell(f"sequential task, whole flow call / {TASKS:,} ({of})", us(total))
            cell("plain Python loop, same function", us(result["plain_us"] / 1e6))
            cell(
                f"peak RSS (VmHWM) after one {TASKS:,}-sequential-task flow",
                f"{runs[0]['hwm_kib'] / KIB:.0f} MiB",
            )
            per_task_cpu = result["client_cpu_s"] / record.created
            cell("client process CPU per sequential task", us(per_task_cpu))
        except (WorkloadError, OSError, ValueError, httpx.HTTPError) as exc:
            traceback.print_exc()
            cell(f"sequential task, whole flow call / {TASKS:,}", f"error: {str(exc)[:120]}")

        print(f"== {label}: {TASKS:,} submitted tasks", flush=True)
        try:
            result, record = measure_task_workload(
                target, home, client_home, server, sampler, ["submit", str(TASKS), "1"]
            )
            records.append(record)
            run = result["runs"][0]
            cell("submitted task, submit + wait in the flow body", ms(run["inner_s"] / TASKS))
            cell(f"submitted task, whole flow call / {TASKS:,}", ms(run["total_s"] / TASKS))
            cell(
                f"peak RSS (VmHWM) of the {TASKS:,}-submitted-task process",
                f"{result['hwm_kib'] / KIB:.0f} MiB",
            )
        except (WorkloadError, OSError, ValueError, httpx.HTTPError) as exc:
            traceback.print_exc()
            cell(f"submitted task, whole flow call / {TASKS:,}", f"error: {str(exc)[:120]}")
    finally:
        if server is not None:
            server.stop()

    if not records:
        return
    created = sum(r.created for r in records)
    recorded = sum(r.recorded for r in records)
    completed = sum(r.completed for r in records)
    if server is not None:
        known = [r.at_return for r in records if r.at_return is not None]
        if known:
            cell("task runs in the API when the flow returned", f"{sum(known):,} of {created:,}")
        cell("task runs recorded once the server is idle", f"{recorded:,} of {created:,}")
        cell("… of which in a Completed state", f"{completed:,}")
        cpu = sum(r.server_cpu or 0.0 for r in records)
        if recorded:
            per_run = cpu / recorded
            # Below a millisecond, "0.1 ms" would hide the difference that matters.
            cell("server CPU per recorded task run", us(per_run) if per_run < 1e-3 else ms(per_run))
        busy = [r.busy_after for r in records]
        text = " / ".join("still busy" if b is None else f"{b:.1f} s" for b in busy)
        cell("server busy after the flow returned (sequential / submitted)", text)
    else:
        cell("task runs recorded once the server is idle", f"{recorded:,} of {created:,}")
        cell("… of which in a Completed state", f"{completed:,}")
        in_process = "in-process (see client CPU)"
        temporary = "not measured (temporary server subprocess)"
        cell(
            "server CPU per recorded task run",
            in_process if target.sdk == "flowyard" else temporary,
        )
    growth = sum(r.db_growth for r in records)
    per_run = f"{growth / recorded / KIB:.1f} KiB" if recorded else "no task run recorded"
    cell("database growth per recorded task run", per_run)


# ---- imports --------------------------------------------------------------------------


def statement_seconds(python: Path, statement: str, repeats: int = IMPORT_REPEATS) -> float:
    """Median wall time of ``python -c statement`` in fresh processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FLOWYARD_"))}
    times = []
    for _ in range(repeats):  # bounded
        started = time.perf_counter()
        subprocess.run([str(python), "-c", statement], check=True, timeout=120, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_imports(chosen: list[Target], table: report.Table) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for target in chosen:
        if target.sdk not in seen:
            print(f"== import {target.sdk}", flush=True)
            base = statement_seconds(target.python, "pass")
            full = statement_seconds(target.python, f"from {target.sdk} import flow, task")
            seen[target.sdk] = (ms(base), ms(full))
        base_text, full_text = seen[target.sdk]
        table.setdefault(f"python -c 'pass', median of {IMPORT_REPEATS}", {})[target.label] = (
            base_text
        )
        metric = f"python -c 'from <sdk> import flow, task', median of {IMPORT_REPEATS}"
        table.setdefault(metric, {})[target.label] = full_text


# ---- the section ----------------------------------------------------------------------

TARGETS = {
    "empty flow run": "< 10 ms",
    "sequential task, whole": "< 100 µs",
    "sequential task, loop": "< 100 µs",
    "server CPU per recorded": "< 1 ms",
    "database growth": "< 3 KiB",
    "task runs recorded": "all (embedded too)",
    "python -c 'from": "< 150 ms",
}


def add_targets(table: report.Table) -> None:
    for metric, cells in table.items():
        for prefix, goal in TARGETS.items():
            if metric.startswith(prefix):
                cells[TARGET_COLUMN] = goal


def run(
    flowyard: bool,
    prefect_python: Path | None,
    quick: bool,
    write: bool,
    command: list[str],
    machine: str,
) -> report.Table:
    """Every target, then the import timings; prints the table and writes the section."""
    plan = SdkPlan(repeats=1 if quick else 2, calibrate_seconds=1.0 if quick else 2.0)
    chosen = targets(flowyard, prefect_python)
    table: report.Table = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="flowyard-sdk-bench-") as tmp:
        for target in chosen:
            try:
                bench_target(target, plan, table, Path(tmp))
            except Exception as exc:  # one broken target must not lose the others' numbers
                traceback.print_exc()
                table.setdefault("error", {})[target.label] = f"{type(exc).__name__}: {exc}"
    bench_imports(chosen, table)
    add_targets(table)
    labels = [t.label for t in chosen] + [TARGET_COLUMN]
    print()
    print(report.render_table(table, labels))
    print(f"\nSDK benchmark took {time.monotonic() - started:.0f} s")
    if write:
        notes = [
            "Each workload (bench/workloads/sdk_workload.py: the same flows bound to "
            "`flowyard.flow/task` or `prefect.flow/task`) runs in a fresh interpreter of its "
            "SDK's venv, on a fresh home; the SDKs' default settings and console logging.",
            "Sequential: a flow whose body calls a trivial task (`x + 1`) 1,000 times; the "
            "body loop is timed inside the flow, the whole call includes creating and "
            "finishing the flow run and whatever the SDK flushes before returning. "
            "Submitted: 1,000 `.submit()` then `.result()` on each, default task runner. "
            "Both workload processes first run one empty flow (untimed) so that one-time "
            "client setup is not charged to the tasks: 2 × 1,000 sequential + 1,000 "
            "submitted = 3,000 task runs per column.",
            "Server CPU: utime+stime of the server's process tree from just before the "
            "workload starts until the server has been idle for "
            f"{IDLE_FOR:g} s (at most {IDLE_TIMEOUT:g} s), minus its idle rate measured "
            "before; divided by the task runs recorded. 'Busy after' is the end of the last "
            f"{SAMPLE_EVERY:g} s interval above {BUSY_CORE_FRACTION:.0%} of a core, after the "
            "last flow returned.",
            "Database growth: page_count × page_size (WAL content included) of the SQLite "
            "file before and after the sequential + submitted workloads (flow runs, states, "
            "events, logs: everything the task runs cost), divided by task runs recorded. "
            "Task runs are counted via `POST /api/task_runs/count` with a server, straight "
            "from the database file after the process exited in embedded/ephemeral mode.",
            "Embedded Flowyard has no separate server: its database work is in the client "
            "process, in the client CPU and peak RSS rows. Prefect's ephemeral mode runs a "
            "temporary server subprocess, not included in its peak RSS.",
        ]
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        notes.append(
            f"Load average {load} when the run ended; medians, except the mean of the "
            "2 sequential flows."
        )
        section = report.render_section(
            table, labels, shlex.join(command), machine, notes, section=SECTION
        )
        report.write_results(section)
        print(f"\nwritten to {report.RESULTS_PATH} ({SECTION})")
    return table
