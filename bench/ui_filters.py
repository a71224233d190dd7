"""The reads a UI issues, and create / set_state, Flowyard vs Prefect 3.9.1 in one run.

    .venv/bin/python bench/ui_filters.py [--sizes 10000,100000] [--seconds 5] [--no-write]

Shapes (the same request bodies to both servers: both speak Prefect's REST API):

- runs of one flow in one state, newest start first, a page of 50 (``/flow_runs/filter``)
- runs in a 10-hour window of start times, in two states, a page of 50
- the task runs of one flow run (``/task_runs/filter``, 50 of them)
- the logs of one run, paged 50 at a time over its 1,000 lines (``/logs/filter``)
- deployments with their next runs: a page of deployments, then the next 50 Scheduled runs
  of those deployments (two requests per operation, as the UI's deployments page)
- create a flow run; set_state Pending -> Running -> Completed on runs made for it

Seeding, a documented fast path (seeding 100,000 runs through Prefect's API takes hours):
each server first gets a template through its own API -- two flows, 20 deployments, 1,000
flow runs (a mix of Completed, Failed, Running, Cancelled and Scheduled, the Scheduled ones
belonging to the deployments), 50 task runs and 1,000 log lines of one run -- then it is
stopped and its own ``flow_run`` and ``flow_run_state`` rows are copied in SQLite until the
database holds the wanted number of runs (new ids in the server's own format; the run's
times rewritten so that run k started k minutes before the first, Scheduled runs k minutes
after). Each copy goes through the table's own triggers and indexes, as any insert would;
statistics are left to each server (Flowyard refreshes them itself when it starts). Then
the server starts again on that database and is measured.

Each shape is measured with 1 client and with 8 concurrent clients, for ``--seconds`` each;
non-2xx answers and transport errors are counted as errors, never as throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import report
from servers import RunningServer, ServerSpec, ensure_prefect_venv, flowyard_spec, prefect_spec

SECTION = "## The reads a UI issues (issue 9)"
TEMPLATE_RUNS = 1_000
TASK_RUNS = 50
LOG_LINES = 1_000
DEPLOYMENTS = 20
CONCURRENT = 8
PAGE = 50
# State of template run i (by i % 10): half Completed, then Failed, Running, Cancelled,
# Scheduled (these belong to a deployment).
STATES = ["COMPLETED"] * 5 + ["FAILED"] * 2 + ["RUNNING", "CANCELLED", "SCHEDULED"]
NAMES = {
    "COMPLETED": "Completed",
    "FAILED": "Failed",
    "RUNNING": "Running",
    "CANCELLED": "Cancelled",
    "SCHEDULED": "Scheduled",
    "PENDING": "Pending",
}
T0 = dt.datetime(2026, 6, 1, 12, 0, 0)  # run k started k minutes before this


@dataclass
class Fixture:
    """Ids the shapes need, read back from the template."""

    flow_a: str = ""
    deployments: list[str] = field(default_factory=list)
    run_with_tasks: str = ""


@dataclass
class Outcome:
    ops: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def describe(self, sequential: bool) -> str:
        rate = self.ops / self.seconds if self.seconds else 0.0
        text = f"{rate:,.0f}/s"
        if sequential and self.latencies:
            text += f" ({statistics.median(self.latencies) * 1000:.1f} ms)"
        if self.errors:
            text += "; errors: " + ", ".join(f"{k}×{v}" for k, v in sorted(self.errors.items()))
        return text


Op = Callable[[httpx.AsyncClient, int], Awaitable[str | None]]


async def drive(api_url: str, op: Op, workers: int, seconds: float, max_ops: int) -> Outcome:
    outcome = Outcome()
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    counter = iter(range(max_ops))
    async with httpx.AsyncClient(base_url=api_url, limits=limits, timeout=60.0) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            for index in counter:
                if time.perf_counter() >= deadline:
                    return
                begun = time.perf_counter()
                try:
                    failure = await op(client, index)
                except httpx.HTTPError as exc:
                    failure = type(exc).__name__
                if failure:
                    outcome.errors[failure] = outcome.errors.get(failure, 0) + 1
                else:
                    outcome.ops += 1
                    outcome.latencies.append(time.perf_counter() - begun)

        await asyncio.gather(*(worker() for _ in range(workers)))
        outcome.seconds = time.perf_counter() - started
    return outcome


def checked(response: httpx.Response, expect: int | None = None) -> str | None:
    if not response.is_success:
        return str(response.status_code)
    if expect is not None and len(response.json()) != expect:
        return f"got {len(response.json())} items"  # a fast wrong answer is no answer
    return None


def stamp(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=dt.UTC).isoformat()


def shapes(fx: Fixture, pool: list[str]) -> dict[str, tuple[Op, int]]:
    """name -> (operation, how many operations it may run at most)."""
    one_flow_one_state = {
        "flows": {"id": {"any_": [fx.flow_a]}},
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
        "sort": "START_TIME_DESC",
        "limit": PAGE,
    }
    window = {
        "flow_runs": {
            "start_time": {
                "after_": stamp(T0 - dt.timedelta(hours=20)),
                "before_": stamp(T0 - dt.timedelta(hours=10)),
            },
            "state": {"type": {"any_": ["COMPLETED", "FAILED"]}},
        },
        "sort": "START_TIME_DESC",
        "limit": PAGE,
    }
    tasks = {
        "flow_runs": {"id": {"any_": [fx.run_with_tasks]}},
        "limit": PAGE,
        "sort": "EXPECTED_START_TIME_DESC",
    }

    async def runs_of_flow(client: httpx.AsyncClient, i: int) -> str | None:
        return checked(await client.post("/flow_runs/filter", json=one_flow_one_state), PAGE)

    async def runs_in_window(client: httpx.AsyncClient, i: int) -> str | None:
        return checked(await client.post("/flow_runs/filter", json=window), PAGE)

    async def task_runs(client: httpx.AsyncClient, i: int) -> str | None:
        return checked(await client.post("/task_runs/filter", json=tasks), TASK_RUNS)

    async def logs(client: httpx.AsyncClient, i: int) -> str | None:
        body = {
            "logs": {"flow_run_id": {"any_": [fx.run_with_tasks]}},
            "sort": "TIMESTAMP_ASC",
            "limit": PAGE,
            "offset": (i % (LOG_LINES // PAGE)) * PAGE,
        }
        return checked(await client.post("/logs/filter", json=body), PAGE)

    async def deployments(client: httpx.AsyncClient, i: int) -> str | None:
        page = await client.post("/deployments/filter", json={"limit": PAGE})
        failure = checked(page, DEPLOYMENTS)
        if failure:
            return failure
        ids = [d["id"] for d in page.json()]
        body = {
            "flow_runs": {
                "deployment_id": {"any_": ids},
                "state": {"type": {"any_": ["SCHEDULED"]}},
            },
            "sort": "EXPECTED_START_TIME_ASC",
            "limit": PAGE,
        }
        return checked(await client.post("/flow_runs/filter", json=body), PAGE)

    async def create(client: httpx.AsyncClient, i: int) -> str | None:
        body = {"flow_id": fx.flow_a, "state": {"type": "PENDING", "name": "Pending"}}
        response = await client.post("/flow_runs/", json=body)
        if response.is_success:
            pool.append(response.json()["id"])
        return checked(response)

    async def set_state(client: httpx.AsyncClient, i: int) -> str | None:
        for kind in ("RUNNING", "COMPLETED"):
            body = {"state": {"type": kind, "name": NAMES.get(kind, kind)}}
            response = await client.post(f"/flow_runs/{pool[i]}/set_state", json=body)
            failure = checked(response)
            if failure:
                return failure
            if response.json().get("status") != "ACCEPT":
                return str(response.json().get("status"))
        return None

    big = 10**9
    return {
        "runs of one flow in one state, by start time, page of 50": (runs_of_flow, big),
        "runs in a 10-hour window in 2 states, page of 50": (runs_in_window, big),
        "task runs of a flow run (50)": (task_runs, big),
        "logs of a run, paged by 50 over 1,000": (logs, big),
        "deployments with their next runs (2 requests)": (deployments, big),
        "create flow run": (create, big),
        "set_state Pending→Running→Completed": (set_state, -1),  # bounded by the pool
    }


# --- seeding -------------------------------------------------------------------------------


async def post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    for attempt in range(30):  # Prefect answers 503 / drops connections under load
        try:
            response = await client.post(path, json=body)
        except httpx.TransportError:
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if response.status_code in (429, 502, 503):
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        response.raise_for_status()
        return response.json() if response.content else None
    raise RuntimeError(f"POST {path} kept failing")


async def seed_template(api_url: str) -> Fixture:
    fx = Fixture()
    async with httpx.AsyncClient(base_url=api_url, timeout=60.0) as client:
        fx.flow_a = (await post(client, "/flows/", {"name": "bench-ui-a"}))["id"]
        flow_b = (await post(client, "/flows/", {"name": "bench-ui-b"}))["id"]
        for d in range(DEPLOYMENTS):
            body = {"name": f"deployment-{d:02d}", "flow_id": fx.flow_a}
            fx.deployments.append((await post(client, "/deployments/", body))["id"])
        sem = asyncio.Semaphore(4)

        async def one(i: int) -> str:
            kind = STATES[i % len(STATES)]
            body: dict[str, Any] = {
                "flow_id": fx.flow_a if i % 2 else flow_b,
                "name": f"run-{i:04d}",
                "state": {"type": kind, "name": NAMES[kind]},
                "tags": ["bench", f"shard-{i % 7}"],
            }
            if kind == "SCHEDULED":
                body["deployment_id"] = fx.deployments[i % DEPLOYMENTS]
            async with sem:
                run: str = (await post(client, "/flow_runs/", body))["id"]
                return run

        runs = await asyncio.gather(*(one(i) for i in range(TEMPLATE_RUNS)))
        fx.run_with_tasks = runs[1]
        for t in range(TASK_RUNS):
            body = {
                "flow_run_id": fx.run_with_tasks,
                "task_key": "bench-task",
                "dynamic_key": str(t),
                "name": f"bench-task-{t}",
                "state": {"type": "COMPLETED", "name": "Completed"},
            }
            await post(client, "/task_runs/", body)
        for start in range(0, LOG_LINES, 100):
            batch = [
                {
                    "name": "bench",
                    "level": 20,
                    "message": f"line {n}: the quick brown fox",
                    "timestamp": stamp(T0 + dt.timedelta(seconds=n)),
                    "flow_run_id": fx.run_with_tasks,
                    "task_run_id": None,
                }
                for n in range(start, start + 100)
            ]
            await post(client, "/logs/", batch)
    return fx


_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


@dataclass(frozen=True)
class Formats:
    """How one database spells ids and times, read from its own rows."""

    dashed_ids: bool
    time_sep: str
    time_suffix: str

    def new_id(self) -> str:
        value = uuid.uuid4()
        return str(value) if self.dashed_ids else value.hex

    def time(self, moment: dt.datetime | None) -> str | None:
        if moment is None:
            return None
        return moment.strftime(f"%Y-%m-%d{self.time_sep}%H:%M:%S.%f") + self.time_suffix


def formats_of(db: sqlite3.Connection) -> Formats:
    run_id, created = db.execute("SELECT id, created FROM flow_run LIMIT 1").fetchone()
    suffix = "+00:00" if str(created).endswith("+00:00") else ""
    return Formats("-" in run_id, "T" if "T" in str(created) else " ", suffix)


def run_times(kind: str, k: int) -> dict[str, dt.datetime | None]:
    """The times of run number k: started k minutes before T0 (Scheduled: due k minutes
    after the present, so that they are the deployments' next runs)."""
    if kind == "SCHEDULED":
        due = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=k + 60)
        return {
            "created": T0,
            "updated": T0,
            "expected_start_time": due,
            "next_scheduled_start_time": due,
            "start_time": None,
            "end_time": None,
            "state_timestamp": T0,
        }
    start = T0 - dt.timedelta(minutes=k)
    end = None if kind == "RUNNING" else start + dt.timedelta(seconds=30)
    return {
        "created": start,
        "updated": end or start,
        "expected_start_time": start,
        "next_scheduled_start_time": None,
        "start_time": start,
        "end_time": end,
        "state_timestamp": end or start,
    }


def grow(db_path: Path, target: int) -> None:
    """Copy the template's runs (and their current state rows) until ``target`` runs."""
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    fmt = formats_of(db)
    run_cols = [r[1] for r in db.execute("PRAGMA table_info(flow_run)")]
    state_cols = [r[1] for r in db.execute("PRAGMA table_info(flow_run_state)")]
    template = db.execute(
        "SELECT * FROM flow_run WHERE name LIKE 'run-%' ORDER BY name LIMIT ?", (TEMPLATE_RUNS,)
    ).fetchall()
    states = {
        row["id"]: dict(row)
        for row in db.execute(
            "SELECT * FROM flow_run_state WHERE id IN (SELECT state_id FROM flow_run)"
        )
    }
    have = db.execute("SELECT count(*) FROM flow_run").fetchone()[0]
    # The template's own times first, so that run k is the k-th minute for every size.
    for k, row in enumerate(template):
        times = run_times(row["state_type"], k)
        db.execute(
            "UPDATE flow_run SET " + ", ".join(f"{c} = ?" for c in times) + " WHERE id = ?",
            [fmt.time(v) for v in times.values()] + [row["id"]],
        )
        db.execute(
            "UPDATE flow_run_state SET timestamp = ? WHERE id = ?",
            (fmt.time(times["state_timestamp"]), row["state_id"]),
        )
    k = have  # run numbers go on from the last growth
    run_sql = (
        f"INSERT INTO flow_run ({', '.join(run_cols)}) VALUES ({', '.join('?' * len(run_cols))})"
    )
    state_sql = (
        f"INSERT INTO flow_run_state ({', '.join(state_cols)}) "
        f"VALUES ({', '.join('?' * len(state_cols))})"
    )
    while have < target:
        runs, rows = [], []
        for row in template:
            if have >= target:
                break
            values = dict(row)
            times = run_times(values["state_type"], k)
            run_id, state_id = fmt.new_id(), fmt.new_id()
            values.update({key: fmt.time(v) for key, v in times.items()})
            values["id"], values["state_id"], values["name"] = run_id, state_id, f"copy-{k:06d}"
            state = dict(states[row["state_id"]])
            state.update(id=state_id, flow_run_id=run_id, timestamp=values["state_timestamp"])
            state["created"] = values["created"]
            if "updated" in state:
                state["updated"] = values["updated"]
            runs.append([values[c] for c in run_cols])
            rows.append([state[c] for c in state_cols])
            have += 1
            k += 1
        db.executemany(run_sql, runs)
        db.executemany(state_sql, rows)
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def database_of(spec: ServerSpec, home: Path) -> Path:
    return home / ("flowyard.db" if spec.label == "Flowyard" else "prefect.db")


# --- the run -------------------------------------------------------------------------------


def measure_server(
    spec: ServerSpec, home: Path, sizes: list[int], seconds: float, table: report.Table
) -> None:
    print(f"== {spec.label}: template through the API", flush=True)
    server = RunningServer(spec, home)
    try:
        fx = asyncio.run(seed_template(server.api_url))
    finally:
        server.stop()
    for size in sizes:
        print(f"== {spec.label}: growing to {size:,} flow runs", flush=True)
        grow(database_of(spec, home), size)
        server = RunningServer(spec, home)
        try:
            time.sleep(3.0)  # let start-up work (statistics, services) settle
            pool: list[str] = []
            for name, (op, max_ops) in shapes(fx, pool).items():
                for workers in (1, CONCURRENT):
                    limit = max_ops
                    if max_ops < 0:
                        # set_state consumes the runs the create shape made: one half for
                        # 1 client, the rest for 8; none is moved twice.
                        base = 0 if workers == 1 else len(pool) // 2
                        limit = len(pool) // 2 if workers == 1 else len(pool) - base
                        op = _offset(shapes(fx, pool)[name][0], base)
                    outcome = asyncio.run(drive(server.api_url, op, workers, seconds, limit))
                    label = f"{name}, {size:,} runs, {workers} client{'s' * (workers > 1)}"
                    table.setdefault(label, {})[spec.label] = outcome.describe(workers == 1)
                    print(f"{spec.label:>14} | {label}: {outcome.describe(workers == 1)}")
        finally:
            server.stop()


def _offset(op: Op, base: int) -> Op:
    async def shifted(client: httpx.AsyncClient, index: int) -> str | None:
        return await op(client, base + index)

    return shifted


def ratio_rows(table: report.Table, labels: list[str]) -> None:
    """A 'Flowyard / Prefect' column: throughput ratio of the two cells."""
    for cells in table.values():
        rates = []
        for label in labels:
            match = re.match(r"([\d,]+)/s", cells.get(label, ""))
            rates.append(float(match.group(1).replace(",", "")) if match else 0.0)
        if len(rates) == 2 and rates[1]:
            cells["Flowyard ÷ Prefect"] = f"{rates[0] / rates[1]:.1f}x"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--server", action="append", choices=("flowyard", "prefect"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = report.machine_info()
    chosen = args.server or ["flowyard", "prefect"]
    specs = [flowyard_spec()] if "flowyard" in chosen else []
    if "prefect" in chosen:
        specs.append(prefect_spec(ensure_prefect_venv()))
    table: report.Table = {}
    with tempfile.TemporaryDirectory(prefix="flowyard-ui-bench-") as tmp:
        for spec in specs:
            home = Path(tmp) / spec.label.split()[0].lower()
            measure_server(spec, home, sizes, args.seconds, table)
    labels = [spec.label for spec in specs]
    ratio_rows(table, labels)
    columns = labels + (["Flowyard ÷ Prefect"] if len(labels) == 2 else [])
    print(report.render_table(table, columns))
    if not args.no_write:
        command = shlex.join([".venv/bin/python", "bench/ui_filters.py", *argv])
        notes = [
            "Cells: operations per second (1 client: the median latency of one operation in "
            "parentheses); errors are non-2xx answers and transport errors, counted apart.",
            "Seeding: the template through each server's API, then its flow_run and "
            "flow_run_state rows copied in SQLite (see the docstring of bench/ui_filters.py).",
            "set_state moves the runs the create rows made (half for 1 client, the rest for "
            "8): its count is bounded by how many were created.",
            "Both servers on SQLite, one after the other, the load generator on the same "
            "machine; wall-clock rates drift with the machine's load (given above).",
        ]
        report.write_results(
            report.render_section(table, columns, command, machine, notes, section=SECTION)
        )
        print(f"\nwritten to {report.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
