"""Benchmark Flowyard's server core side by side with Prefect 3.9.1.

Run from the repo root:  .venv/bin/python bench/run.py [--only NAME] [--quick]

``--only sdk`` runs only the SDK overhead benchmark (bench/sdk_overhead.py, its own section
"## SDK overhead (issue 3)"); ``--only on_time`` only the run start latency benchmark
(bench/on_time.py, "## On time (issue 4)"); with no ``--only`` every suite runs.

Each server is started in turn as a subprocess on a fresh temporary SQLite home and a free
loopback port, driven over HTTP with httpx, then stopped. The table is printed and written to
bench/RESULTS.md under "## Server core (issue 2)"; other sections of that file are kept.
Numbers are only ever measured here, never asserted: tests must not depend on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import on_time
import report
import sdk_overhead
import server_core as core
from servers import (
    RunningServer,
    ServerSpec,
    ServerStartError,
    ensure_prefect_venv,
    flowyard_spec,
    import_seconds,
    prefect_spec,
)

SCENARIOS = ("startup", "memory", "create_flow_run", "filter", "set_state", "logs", "import")
SERVER_SCENARIOS = SCENARIOS[:-1]
SUITES = (*SCENARIOS, "sdk", "on_time")
MIB = 1024


@dataclass(frozen=True)
class Plan:
    only: frozenset[str]
    quick: bool

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only

    @property
    def seconds(self) -> float:
        return 1.5 if self.quick else 5.0

    @property
    def seed_count(self) -> int:
        return 2_000 if self.quick else 10_000

    @property
    def idle_settle(self) -> float:
        # Let background services finish starting before reading "idle" memory.
        return 1.0 if self.quick else 3.0


def cell(table: report.Table, metric: str, server: str, text: str) -> None:
    table.setdefault(metric, {})[server] = text


def record_measure(
    table: report.Table, label: str, title: str, unit: str, results: dict[str, core.Outcome]
) -> None:
    for clients, outcome in results.items():
        cell(table, f"{title}, {clients}", label, outcome.describe(unit))


async def run_scenarios(api_url: str, plan: Plan, table: report.Table, label: str) -> None:
    """Every selected HTTP scenario; one failing scenario is reported, not fatal."""
    budget = core.Budget(plan.seconds, max_ops=100_000)

    async def guarded(title: str, body: Callable[[], Awaitable[None]]) -> None:
        try:
            await body()
        except Exception as exc:  # a half-built server must not abort the whole run
            traceback.print_exc()
            cell(table, title, label, f"error: {type(exc).__name__}: {str(exc)[:80]}")

    async with core.new_client(api_url, 1) as client:
        flow_id = await core.create_flow(client, "bench-flow")

    async def create_flow_runs() -> None:
        results = await core.measure(api_url, core.create_flow_run_op(flow_id), budget)
        record_measure(table, label, "create flow run", "runs", results)

    async def filter_and_set_state() -> None:
        n = plan.seed_count
        pool, seeded, lowest = await core.seed_flow_runs(api_url, flow_id, n)
        text = f"{seeded.seconds:.1f} s ({seeded.rate:,.0f} runs/s)"
        if lowest < core.SEED_WORKERS:
            retried = sum(seeded.failures.values())
            text += f"; {retried:,} retried, fell back to {lowest} client(s)"
        title = f"seed {n:,} flow runs, up to {core.SEED_WORKERS} clients (adaptive)"
        cell(table, title, label, text)
        if plan.wants("filter"):
            results = await core.measure(api_url, core.filter_op(), budget)
            title = f"filter {core.NEEDLES} of {n:,} runs by tag"
            record_measure(table, label, title, "queries", results)
        if plan.wants("set_state"):
            pool_budget = core.Budget(plan.seconds, max_ops=len(pool))
            op = core.set_state_op(pool)
            # A third of the pool for one client leaves the rest for the faster 8 clients.
            results = await core.measure(api_url, op, pool_budget, len(pool) // 3)
            title = "set_state Pending→Running→Completed"
            record_measure(table, label, title, "transitions", results)

    async def logs() -> None:
        async with core.new_client(api_url, 1) as client:
            response = await client.post("/flow_runs/", json=core.flow_run_body(flow_id))
            response.raise_for_status()
            run_id = response.json()["id"]
        results = await core.measure(api_url, core.logs_op(run_id), budget)
        title = f"log ingestion, batches of {core.LOG_BATCH}"
        record_measure(table, label, title, "lines", results)

    if plan.wants("create_flow_run"):
        await guarded("create flow run", create_flow_runs)
    if plan.wants("filter") or plan.wants("set_state"):
        await guarded("filter / set_state", filter_and_set_state)
    if plan.wants("logs"):
        await guarded("log ingestion", logs)


def bench_server(spec: ServerSpec, plan: Plan, table: report.Table, workdir: Path) -> None:
    home = workdir / spec.label.split()[0].lower()
    print(f"== {spec.label}: starting on a new database", flush=True)
    try:
        server = RunningServer(spec, home)
    except (ServerStartError, OSError) as exc:
        cell(table, "server start, new database", spec.label, f"failed: {str(exc)[:120]}")
        print(f"{spec.label} did not start: {exc}", file=sys.stderr)
        return
    try:
        if plan.wants("startup"):
            cell(table, "server start, new database", spec.label, f"{server.start_seconds:.2f} s")
        if plan.wants("memory"):
            time.sleep(plan.idle_settle)
            cell(table, "idle RSS after start", spec.label, f"{server.rss_kib() / MIB:.0f} MiB")
        try:
            asyncio.run(run_scenarios(server.api_url, plan, table, spec.label))
        except Exception as exc:
            traceback.print_exc()
            cell(table, "scenarios", spec.label, f"error: {type(exc).__name__}: {str(exc)[:80]}")
        if plan.wants("memory"):
            peak = server.peak_rss_kib() / MIB
            cell(table, "peak RSS during the run (sum of VmHWM)", spec.label, f"{peak:.0f} MiB")
    finally:
        server.stop()

    if plan.wants("startup"):
        print(f"== {spec.label}: restarting on the existing database", flush=True)
        try:
            again = RunningServer(spec, home)
        except (ServerStartError, OSError) as exc:
            cell(table, "server start, existing database", spec.label, f"failed: {exc}"[:120])
            return
        again.stop()
        cell(table, "server start, existing database", spec.label, f"{again.start_seconds:.2f} s")


def bench_imports(
    table: report.Table, flowyard: ServerSpec | None, prefect_python: Path | None
) -> None:
    pythons: list[tuple[str, Path, str]] = []
    if flowyard is not None:
        pythons.append((flowyard.label, Path(sys.executable), "flowyard"))
    if prefect_python is not None:
        pythons.append((prefect_spec(prefect_python).label, prefect_python, "prefect"))
    for label, python, module in pythons:
        print(f"== import {module}", flush=True)
        baseline = import_seconds(python, "sys")
        cell(table, "python startup alone, median of 5", label, f"{baseline * 1000:.0f} ms")
        try:
            seconds = import_seconds(python, module)
            text = f"{seconds * 1000:.0f} ms"
        except Exception as exc:
            text = f"failed: {type(exc).__name__}"
        cell(table, "`import flowyard` / `import prefect`, median of 5", label, text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=SUITES, help="repeatable")
    parser.add_argument("--quick", action="store_true", help="short budgets, 2,000 seeded runs")
    parser.add_argument(
        "--server", action="append", choices=("flowyard", "prefect"), help="default: both"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, keep RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan = Plan(frozenset(args.only or ()), args.quick)
    machine = report.machine_info()  # before we load the machine ourselves
    chosen = args.server or ["flowyard", "prefect"]
    prefect_python = ensure_prefect_venv() if "prefect" in chosen else None
    specs: list[ServerSpec] = []
    if "flowyard" in chosen:
        specs.append(flowyard_spec())
    if prefect_python is not None:
        specs.append(prefect_spec(prefect_python))

    if plan.wants("sdk"):
        command = [".venv/bin/python", "bench/run.py", *argv]
        sdk_overhead.run(
            "flowyard" in chosen, prefect_python, args.quick, not args.no_write, command, machine
        )
    if plan.wants("on_time"):
        command = [".venv/bin/python", "bench/run.py", *argv]
        on_time.run(
            "flowyard" in chosen, prefect_python, args.quick, not args.no_write, command, machine
        )
    if not any(plan.wants(name) for name in SCENARIOS):
        return 0  # only the SDK / on-time suites: leave the server-core section as it is

    table: report.Table = {}
    if any(plan.wants(name) for name in SERVER_SCENARIOS):
        with tempfile.TemporaryDirectory(prefix="flowyard-bench-") as tmp:
            for spec in specs:
                bench_server(spec, plan, table, Path(tmp))
    if plan.wants("import"):
        flowyard = next((s for s in specs if s.label == "Flowyard"), None)
        bench_imports(table, flowyard, prefect_python)

    labels = [spec.label for spec in specs]
    print()
    print(report.render_table(table, labels))
    if not args.no_write:
        command = shlex.join([".venv/bin/python", "bench/run.py", *argv])
        notes = [
            "Servers run one after the other on the same machine as the load generator "
            "(one Python process, httpx + asyncio), each on a fresh SQLite home and a free "
            "loopback port; Prefect with its UI and analytics disabled.",
            f"Each throughput cell is bounded by count and by {plan.seconds:g} s; n is the "
            "units done. Non-2xx answers and transport errors are listed as failed and are "
            "not counted in the rate.",
            "Start time: process spawn until `GET /api/health` answers 200. The existing "
            "database is the one the run left behind (with every run created above).",
            "RSS sums the server process and its descendants (/proc VmRSS; peak = VmHWM).",
        ]
        report.write_results(report.render_section(table, labels, command, machine, notes))
        print(f"\nwritten to {report.RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
