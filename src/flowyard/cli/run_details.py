"""``flowyard flow-run inspect`` in prose: what a person needs to know about one run.

The JSON form (``--json``) is the API's own answer; this one names things (the flow, the
deployment as ``flow/deployment``, the pool and queue) and gives times in local time.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from flowyard.exceptions import ObjectNotFound

if TYPE_CHECKING:
    from flowyard.client import SyncFlowyardClient
    from flowyard.schemas.core import FlowRun

ACTIVE_STATES = ("PENDING", "RUNNING", "CANCELLING")
MAX_NAMED_RUNS = 5


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def describe_run(client: SyncFlowyardClient, run: FlowRun) -> list[str]:
    """The lines of ``flow-run inspect``: one ``Label: value`` per known fact."""
    flow_name = client.read_flow(run.flow_id).name
    deployment = None
    if run.deployment_id is not None:
        try:
            deployment = f"{flow_name}/{client.read_deployment(run.deployment_id).name}"
        except ObjectNotFound:
            deployment = f"{run.deployment_id} (deleted)"
    pool = run.work_pool_name
    if pool and run.work_queue_name:
        pool = f"{pool} (queue {run.work_queue_name})"
    state = run.state_name or (run.state_type.value.capitalize() if run.state_type else None)
    message = run.state.message if run.state is not None else None
    facts: list[tuple[str, str | None]] = [
        ("ID", str(run.id)),
        ("Flow", flow_name),
        ("Deployment", deployment),
        ("Work pool", pool),
        ("State", state),
        ("Message", message),
        ("Created", _time(run.created)),
        ("Due", _time(run.expected_start_time)),
        ("Started", _time(run.start_time)),
        ("Ended", _time(run.end_time)),
        ("Run time", _duration(run.total_run_time) if run.start_time else None),
        ("Attempts", str(run.run_count) if run.run_count > 1 else None),
        ("Parameters", json.dumps(run.parameters) if run.parameters else None),
        ("Tags", ", ".join(run.tags) if run.tags else None),
    ]
    lines = [f"Flow run {run.name!r}"]
    lines += [f"  {label + ':':<12}{value}" for label, value in facts if value]
    return lines


def idle_pool_hint(client: SyncFlowyardClient, run: FlowRun) -> str | None:
    """For a due run that nothing on the server holds: the workers of its pool that are
    busy, which may be at the ``--limit`` they were started with (a worker's limit is its
    own: the server does not know it)."""
    from flowyard.schemas import filters

    if not run.work_pool_name:
        return None
    online = [w.name for w in client.read_workers(run.work_pool_name) if w.status == "ONLINE"]
    if not online:
        return None
    active = client.read_flow_runs(
        work_pool_filter=filters.WorkPoolFilter(name=filters.NameFilter(any_=[run.work_pool_name])),
        flow_run_filter=filters.FlowRunFilter.model_validate(
            {"state": {"type": {"any_": list(ACTIVE_STATES)}}}
        ),
        limit=50,
    )
    if not active:
        return None
    count = len(active)
    shown = ", ".join(repr(r.name) for r in active[:MAX_NAMED_RUNS])
    if count > MAX_NAMED_RUNS:
        shown += ", ..."
    runs = f"{count} run{'s' if count != 1 else ''} ({shown})"
    if len(online) == 1:
        return (
            f"Nothing on the server holds it, but its pool's only worker, {online[0]!r}, is "
            f"running {runs}: if it was started with --limit {count} or less, it is full and "
            "takes this run when one of them ends."
        )
    return (
        f"Nothing on the server holds it, but its pool's workers "
        f"({', '.join(map(repr, online))}) are running {runs} between them: those at their "
        "--limit take this run when one of their runs ends."
    )
