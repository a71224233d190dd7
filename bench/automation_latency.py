"""Action latency of automations: event committed -> action started, with 1,000 active
automations in the workspace, and the in-memory matching cost per event.

    .venv/bin/python bench/automation_latency.py [--automations 1000] [--runs 60]

In process, on a fresh SQLite file (the default database), with the server's own trigger
engine and action runner. 1,000 automations of the shapes users write: 500 expecting other
event names, 300 on ``prefect.flow-run.*`` of other deployments (the event reaches their
resource check), 199 on other resources' ids, and the one measured: ``prefect.flow-run.
Completed`` of one deployment, with a do-nothing action. Each run commits one event of a
new flow run of that deployment through the application layer; the clock starts in a
commit listener registered before the engine's (right after the commit) and stops when the
action runner starts the action.

The machine is shared and loaded: the figures are the minimum and the median of the runs;
the matching cost is the minimum over many repetitions of ``LeafIndex.candidates`` (pure
CPU, no database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from flowyard.schemas import core  # noqa: E402
from flowyard.schemas.automations import AutomationCreate  # noqa: E402
from flowyard.server.app import create_app  # noqa: E402
from flowyard.server.events.actions import ActionRunner  # noqa: E402
from flowyard.server.events.triggers import TriggerEngine  # noqa: E402
from flowyard.server.operations import automations as automation_ops  # noqa: E402
from flowyard.server.operations import events as event_ops  # noqa: E402
from flowyard.server.operations.context import RequestContext  # noqa: E402
from flowyard.settings import Settings  # noqa: E402

COMPLETED = "prefect.flow-run.Completed"


def shapes(count: int, measured_deployment: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for i in range(count - 1):
        if i % 10 < 5:
            trigger = {"type": "event", "posture": "Reactive", "expect": [f"custom.event.{i}"]}
        elif i % 10 < 8:
            other = f"prefect.deployment.{uuid.uuid4()}"
            trigger = {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.*"],
                       "match_related": {"prefect.resource.id": other}}  # fmt: skip
        else:
            run = f"prefect.flow-run.{uuid.uuid4()}"
            trigger = {"type": "event", "posture": "Reactive",
                       "match": {"prefect.resource.id": run}}  # fmt: skip
        bodies.append({"name": f"automation-{i}", "trigger": trigger,
                       "actions": [{"type": "do-nothing"}]})  # fmt: skip
    bodies.append({
        "name": "measured",
        "trigger": {"type": "event", "posture": "Reactive", "expect": [COMPLETED],
                    "match_related": {"prefect.resource.id": measured_deployment}},
        "actions": [{"type": "do-nothing"}],
    })  # fmt: skip
    return bodies


def completed_event(deployment: str) -> core.Event:
    return core.Event(
        id=uuid.uuid4(), occurred=_now(),
        event=COMPLETED, resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
        related=[{"prefect.resource.id": deployment, "prefect.resource.role": "deployment"}],
    )  # fmt: skip


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


async def measure(count: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), database_url=f"sqlite+aiosqlite:///{tmp}/bench.db")
        app = create_app(settings, services=False)
        async with app.router.lifespan_context(app):
            db = app.state.db
            ctx = RequestContext(db, app.state.default_workspace_id, app.state.default_account_id)
            deployment = f"prefect.deployment.{uuid.uuid4()}"
            for body in shapes(count, deployment):
                await automation_ops.create_automation(ctx, AutomationCreate.model_validate(body))
            started: dict[uuid.UUID, float] = {}
            committed: dict[uuid.UUID, float] = {}

            async def on_commit(batch: Any) -> None:
                for _, item in batch:
                    committed.setdefault(item.id, time.perf_counter())

            runner = ActionRunner(db)
            original = runner.run_one

            async def run_one(firing: Any, index: int, action: Any) -> None:
                started[firing.triggering_event.id] = time.perf_counter()
                await original(firing, index, action)

            runner.run_one = run_one  # type: ignore[method-assign]
            db.add_commit_listener(on_commit)  # before the engine's: right after the commit
            engine = TriggerEngine(db, runner, max_firings_per_minute=10**6)
            await engine.start()
            latencies = []
            for _ in range(runs):
                item = completed_event(deployment)
                await event_ops.create_events(ctx, [item])
                await engine.drain()
                latencies.append((started[item.id] - committed[item.id]) * 1000)
            await engine.stop()
            probe = completed_event(deployment)
            workspace = app.state.default_workspace_id
            best = float("inf")
            for _ in range(200):
                begin = time.perf_counter()
                engine.index.candidates(workspace, probe)
                best = min(best, time.perf_counter() - begin)
            return {
                "min_ms": min(latencies),
                "median_ms": statistics.median(latencies),
                "match_us": best * 1e6,
                "leaves": float(len(engine.index.by_trigger)),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    for count in (1, args.automations):
        result = asyncio.run(measure(count, args.runs))
        print(
            f"{count:>5} automations: event committed -> action started "
            f"min {result['min_ms']:.1f} ms, median {result['median_ms']:.1f} ms; "
            f"matching one event {result['match_us']:.0f} us ({int(result['leaves'])} triggers)"
        )


if __name__ == "__main__":
    main()
