"""The flow run page at scale: the dependency graph of a 2,000-task run (target: under
300 ms of server time) and the logs of a run with 100,000 lines.

Run from the repo root:  .venv/bin/python bench/ui_run_page.py [--quick]

In process (the app on httpx's ASGI transport, a fresh SQLite file), so the figures are the
server's time for the whole response and nothing of the network. The machine is shared:
each figure is the minimum of several runs (the least disturbed), with the median beside
it, and process CPU time, which another process's load does not inflate the way it does
wall time. Prints a Markdown table for bench/RESULTS.md. Never asserted in a test.

The graph: 2,000 task runs in 10 stages of 200, each task taking the results of 1-3 tasks
of earlier stages (about 4,000 edges), the shape of a map/reduce pipeline.
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
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from flowyard.server.app import create_app
from flowyard.server.database.engine import Database
from flowyard.server.operations import flow_run_graph
from flowyard.server.operations.context import RequestContext
from flowyard.settings import Settings
from flowyard.ui.graph import draw_run_graph
from flowyard.ui.graph_layout import layered_layout

TASKS = 2_000
STAGES = 10
LOG_LINES = 100_000
LOG_BATCH = 1_000


async def _seed_graph(client: httpx.AsyncClient, run_id: str) -> None:
    rng = random.Random(7)
    per_stage = TASKS // STAGES
    ids: list[str] = []
    for i in range(TASKS):
        stage = i // per_stage
        inputs = {}
        if stage:
            ups = {ids[rng.randrange(stage * per_stage)] for _ in range(rng.randint(1, 3))}
            inputs = {f"x{k}": [{"input_type": "task_run", "id": u}] for k, u in enumerate(ups)}
        body = {"flow_run_id": run_id, "task_key": f"t{i}", "dynamic_key": "0",
                "name": f"task-{i}", "task_inputs": inputs}  # fmt: skip
        response = await client.post("/api/task_runs/", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])


async def _seed_logs(client: httpx.AsyncClient, run_id: str, lines: int) -> None:
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for start in range(0, lines, LOG_BATCH):
        batch = [
            {"name": "bench", "level": 40 if i % 997 == 0 else 20, "flow_run_id": run_id,
             "message": f"line {i} " + ("needle" if i == 1234 else "hay"),
             "timestamp": (t0 + dt.timedelta(milliseconds=i)).isoformat()}
            for i in range(start, min(start + LOG_BATCH, lines))
        ]  # fmt: skip
        (await client.post("/api/logs/", json=batch)).raise_for_status()


async def _measure(fn: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float, float]:
    """(min wall, median wall, min CPU) in ms."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        await fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls) * 1e3, statistics.median(walls) * 1e3, min(cpus) * 1e3


async def main(quick: bool) -> None:
    repeat = 3 if quick else 7
    lines = LOG_LINES // 10 if quick else LOG_LINES
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), database_url=f"sqlite+aiosqlite:///{home}/bench.db",
            server_allowed_hosts=["test"],
        )  # fmt: skip
        db = Database(settings.resolved_database_url)
        app = create_app(settings, database=db, services=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                flow = (await client.post("/api/flows/", json={"name": "bench"})).json()["id"]
                run = (await client.post("/api/flow_runs/", json={"flow_id": flow})).json()
                run_id = run["id"]
                await client.post(f"/api/flow_runs/{run_id}/set_state",
                                  json={"state": {"type": "RUNNING"}})  # fmt: skip
                print(f"seeding {TASKS} task runs and {lines} log lines…", file=sys.stderr)
                await _seed_graph(client, run_id)
                await _seed_logs(client, run_id, lines)
                ctx = RequestContext(
                    db, app.state.default_workspace_id, app.state.default_account_id
                )
                rows = await _rows(client, ctx, run_id, repeat, lines)
        await db.dispose()
    print("| measurement | min | median | min CPU | size |")
    print("|---|---|---|---|---|")
    for name, (low, mid, cpu), size in rows:
        print(f"| {name} | {low:.0f} ms | {mid:.0f} ms | {cpu:.0f} ms | {size} |")


Row = tuple[str, tuple[float, float, float], str]


async def _rows(
    client: httpx.AsyncClient, ctx: RequestContext, run_id: str, repeat: int, lines: int
) -> list[Row]:
    page = f"/runs/flow-run/{run_id}"
    sizes: dict[str, str] = {}

    def getter(url: str) -> Callable[[], Awaitable[object]]:
        async def get() -> None:
            response = await client.get(url)
            response.raise_for_status()
            sizes[url] = f"{len(response.content) / 1024:,.0f} KiB"

        return get

    graph = await flow_run_graph.read_flow_run_graph(ctx, uuid.UUID(run_id))
    nodes = dict(graph.nodes)
    order = list(nodes)
    ups = {i: [e.id for e in nodes[i].parents] for i in order}

    async def read_graph() -> None:
        await flow_run_graph.read_flow_run_graph(ctx, uuid.UUID(run_id))

    async def layout() -> None:
        layered_layout(order, ups)

    async def draw() -> None:
        draw_run_graph(graph, lambda node: f"/runs/task-run/{node.id}")

    tail_page = (await client.get(f"{page}?tab=logs")).text
    start = tail_page.index('hx-get="') + len('hx-get="')
    tail = tail_page[start : tail_page.index('"', start)].replace("&amp;", "&")
    pages = [
        (f"graph tab, whole page ({TASKS:,} task runs)", page),
        (f"logs tab, newest 200 of {lines:,} lines", f"{page}?tab=logs"),
        (f"logs tab, ERROR and above of {lines:,}", f"{page}?tab=logs&level=ERROR"),
        (f"logs tab, search one line in {lines:,}", f"{page}?tab=logs&q=needle"),
        ("logs live tail poll (no new line)", tail),
        ("task runs tab (first 100)", f"{page}?tab=task-runs"),
    ]
    rows: list[Row] = []
    for label, url in pages:
        rows.append((label, await _measure(getter(url), repeat), sizes[url]))
    parts = [
        ("graph: its operation (the graph-v2 data)", read_graph),
        ("graph: layered layout (networkx + ordering)", layout),
        ("graph: layout + SVG", draw),
    ]
    for label, fn in parts:
        rows.insert(1 + parts.index((label, fn)), (label, await _measure(fn, repeat), ""))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 log lines, 3 repeats")
    asyncio.run(main(parser.parse_args().quick))
