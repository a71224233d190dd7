"""The dashboard and the flow-run list with many runs (issue 11 point 9: every page's full
server response under 150 ms median).

Run from the repo root:  .venv/bin/python bench/ui_pages.py [--runs 100000] [--quick]

In process (the app on httpx's ASGI transport, a fresh SQLite file), so the figures are the
server's time for the whole response and nothing of the network. Runs are inserted straight
through the ORM (the API would take minutes to create 100,000): spread over 30 days, in
every state, a tenth tagged ``nightly``, with task runs. The machine is shared: each figure
is the minimum of several requests (the least disturbed), with the median beside it, the
process CPU time (which another process's load inflates less than wall time) and the
number of SQL statements the page issued (load-independent). Prints a Markdown table for
bench/RESULTS.md. Never asserted in a test.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from flowyard.server.app import create_app
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.settings import Settings

STATES = [("COMPLETED", "Completed")] * 14 + [
    ("FAILED", "Failed"), ("CRASHED", "Crashed"), ("CANCELLED", "Cancelled"),
    ("RUNNING", "Running"), ("SCHEDULED", "Scheduled"), ("SCHEDULED", "Late"),
]  # fmt: skip
BATCH = 5_000
TASKS_PER_RUN = 3


def _rows(workspace_id: uuid.UUID, flow_ids: list[uuid.UUID], runs: int) -> Iterator[
    tuple[dict[str, Any], list[dict[str, Any]]]
]:
    rng = random.Random(11)
    now = dt.datetime.now(dt.UTC)
    for i in range(runs):
        state_type, state_name = rng.choice(STATES)
        expected = now - dt.timedelta(seconds=rng.uniform(-86_400, 30 * 86_400))
        started = state_type not in ("SCHEDULED",)
        duration = rng.uniform(1, 600) if started else 0.0
        run_id = uuid.uuid4()
        tags = ["nightly"] if i % 10 == 0 else ["adhoc"]
        run = {
            "id": run_id, "workspace_id": workspace_id, "flow_id": rng.choice(flow_ids),
            "name": f"run-{i:06d}", "state_type": state_type, "state_name": state_name,
            "state_timestamp": expected, "expected_start_time": expected,
            "start_time": expected if started else None,
            "end_time": expected + dt.timedelta(seconds=duration) if started else None,
            "total_run_time": duration, "tags": tags, "run_count": 1 if started else 0,
        }  # fmt: skip
        tasks = [
            {"id": uuid.uuid4(), "workspace_id": workspace_id, "flow_run_id": run_id,
             "name": f"task-{k}", "task_key": f"t{k}", "dynamic_key": "0",
             "state_type": "COMPLETED" if state_type == "COMPLETED" else state_type,
             "state_name": state_name, "expected_start_time": expected, "tags": tags}
            for k in range(TASKS_PER_RUN if started else 0)
        ]  # fmt: skip
        yield run, tasks


async def _seed(db: Database, workspace_id: uuid.UUID, runs: int) -> None:
    async with db.write() as session:
        flows = [orm.Flow(workspace_id=workspace_id, name=f"flow-{i}") for i in range(20)]
        session.add_all(flows)
        await session.flush()
        flow_ids = [flow.id for flow in flows]
    batch_runs: list[dict[str, Any]] = []
    batch_tasks: list[dict[str, Any]] = []

    async def flush() -> None:
        async with db.write() as session:
            await session.execute(sa.insert(orm.FlowRun), batch_runs)
            if batch_tasks:
                await session.execute(sa.insert(orm.TaskRun), batch_tasks)
        batch_runs.clear()
        batch_tasks.clear()

    for run, tasks in _rows(workspace_id, flow_ids, runs):
        batch_runs.append(run)
        batch_tasks.extend(tasks)
        if len(batch_runs) >= BATCH:
            await flush()
    if batch_runs:
        await flush()


async def _measure(client: httpx.AsyncClient, url: str, repeat: int, count: list[int]) -> Any:
    walls, cpus, statements = [], [], []
    for _ in range(repeat):
        count[0] = 0
        wall, cpu = time.perf_counter(), time.process_time()
        response = await client.get(url)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        statements.append(count[0])
        response.raise_for_status()
    return min(walls) * 1e3, statistics.median(walls) * 1e3, min(cpus) * 1e3, max(statements)


async def main(runs: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), database_url=f"sqlite+aiosqlite:///{home}/bench.db",
            server_allowed_hosts=["test"],
        )  # fmt: skip
        db = Database(settings.resolved_database_url)
        app = create_app(settings, database=db, services=False)
        async with app.router.lifespan_context(app):
            print(f"seeding {runs:,} flow runs…", file=sys.stderr)
            await _seed(db, app.state.default_workspace_id, runs)
            async with db.write() as session:
                await session.execute(sa.text("ANALYZE"))
            count = [0]

            def record(*_: Any) -> None:
                count[0] += 1

            for engine in {id(e): e for e in (db.write_engine, db.read_engine)}.values():
                sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                first = (await client.get("/runs")).text
                start = first.index('rel="next"') if 'rel="next"' in first else -1
                next_url = "/runs"
                if start >= 0:
                    href = first.rindex('href="', 0, start) + len('href="')
                    next_url = first[href : first.index('"', href)].replace("&amp;", "&")
                pages = [
                    ("dashboard, last day", "/"),
                    ("dashboard, last 7 days", "/?range=7d"),
                    ("dashboard, 7 days, tag nightly", "/?range=7d&tag=nightly"),
                    ("flow runs, default (7 days, by start time)", "/runs"),
                    ("flow runs, next page (keyset)", next_url),
                    ("flow runs, Failed + tag nightly", "/runs?state=FAILED&tag=nightly"),
                    ("flow runs, any time, by name", "/runs?range=all&sort=name_asc"),
                    ("flow runs, any time, by duration", "/runs?range=all&sort=duration_desc"),
                    ("flow runs, name search", "/runs?range=all&q=run-0999"),
                ]
                rows = [(label, await _measure(client, url, repeat, count)) for label, url in pages]
        await db.dispose()
    print(f"| page ({runs:,} flow runs, {runs * TASKS_PER_RUN * 5 // 6:,}± task runs) "
          "| min | median | min CPU | SQL statements |")  # fmt: skip
    print("|---|---|---|---|---|")
    for label, (low, mid, cpu, statements) in rows:
        print(f"| {label} | {low:.0f} ms | {mid:.0f} ms | {cpu:.0f} ms | {statements} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 runs, 3 requests each")
    args = parser.parse_args()
    asyncio.run(main(10_000 if args.quick else args.runs, 3 if args.quick else 7))
