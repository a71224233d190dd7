"""The run-lease monitor: a flow run whose process stopped renewing its lease is settled.

A process executing a flow run with Flowyard's SDK (a script, a worker's or ``serve()``'s
run) takes the run's lease with its Running transition and renews it by heartbeat. When the
lease expires the process is gone (killed, out of memory, its machine lost): the run goes
through orchestration to Crashed, saying when the lease expired; its unfinished task runs
are crashed too and every concurrency slot it or its tasks held is given back. A crashed run
that belongs to a deployment and has retries left is then rescheduled as AwaitingRetry
(Crashed -> Scheduled is a manual-style rerun that the terminal-state rules allow only with
a deployment, so a run nobody could start again stays Crashed). A run left Cancelling is
finished as Cancelled: its process is gone, there is nothing left to stop. A paused run past
its pause timeout that no live process holds is failed: nobody can resume it any more.

The official client's ``prefect.flow-run.heartbeat`` events count as renewals too (an
event listener extends the run's lease by a longer, configurable period).

This module decides when and which runs; every state change is proposed by the
orchestration entry points of ``orchestration.run_monitors``, with its event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from flowyard.schemas import core
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration import run_monitors
from flowyard.server.queries import run_leases as queries
from flowyard.server.queries import run_monitors as monitor_queries
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.run_leases")

Stop = Callable[[], Awaitable[None]]
BATCH = 100
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
FLOW_RUN_RESOURCE = "prefect.flow-run."


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def settle_expired_leases(db: Database, now: dt.datetime | None = None) -> int:
    """One pass: settle every run whose lease expired by ``now``. Returns how many runs
    were moved to another state."""
    moved = 0
    while True:
        now_ = now or utcnow()
        async with db.read() as session:
            expired = await queries.read_expired_leases(session, now_, BATCH)
        for lease in expired:
            message = (
                "The process holding the run stopped renewing its lease, which expired at "
                f"{_when(lease.expiration)}."
            )
            async with db.write() as session:
                settled = await run_monitors.settle_expired_lease(
                    session, lease.workspace_id, lease.flow_run_id, message, now_
                )
            if settled:
                moved += 1
                logger.warning("Flow run %s: %s", lease.flow_run_id, message)
        if len(expired) < BATCH:
            return moved


async def fail_expired_pauses(db: Database, now: dt.datetime | None = None) -> int:
    """Paused runs past their pause timeout that no live process holds (a suspended run, or
    one whose process is gone) are failed: nobody can resume them any more. A run whose
    process still holds its lease is left to it (it fails the run itself at the timeout).
    Returns how many runs were failed."""
    now = now or utcnow()
    failed = 0
    async with db.read() as session:
        workspaces = await monitor_queries.read_workspace_ids(session)
    for workspace_id in workspaces:
        # Every paused run, a keyset page at a time: the timeout lives in the state's JSON
        # details, so it is checked here, and no page may hide the runs beyond it.
        after: uuid.UUID | None = None
        while True:
            async with db.read() as session:
                rows = await queries.read_paused_runs(session, workspace_id, after, BATCH)
                expired = [
                    run_id for run_id, details in rows if run_monitors.pause_expired(details, now)
                ]
                live = await queries.live_lease_run_ids(session, workspace_id, expired, now)
            for run_id in expired:
                if run_id in live:
                    continue
                async with db.write() as session:
                    if await run_monitors.fail_expired_pause(session, workspace_id, run_id, now):
                        failed += 1
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
    return failed


def heartbeat_listener(db: Database, settings: Settings) -> Any:
    """An event-pipeline listener that turns ``prefect.flow-run.heartbeat`` events into
    lease renewals of the runs they name."""
    seconds = settings.server_services_run_leases_heartbeat_event_seconds

    async def listener(batch: Sequence[tuple[uuid.UUID, core.Event]]) -> None:
        by_workspace: dict[uuid.UUID, list[uuid.UUID]] = {}
        for workspace_id, event in batch:
            if event.event != HEARTBEAT_EVENT:
                continue
            resource_id = event.resource.get("prefect.resource.id", "")
            if not resource_id.startswith(FLOW_RUN_RESOURCE):
                continue
            try:
                run_id = uuid.UUID(resource_id[len(FLOW_RUN_RESOURCE) :])
            except ValueError:
                continue
            by_workspace.setdefault(workspace_id, []).append(run_id)
        if not by_workspace:
            return
        now = utcnow()
        async with db.write() as session:
            for workspace_id, run_ids in by_workspace.items():
                await queries.extend_leases(session, workspace_id, run_ids, seconds, now)

    return listener


async def start(app: Any, interval: float | None = None) -> Stop:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    every = interval if interval is not None else settings.server_services_run_leases_loop_seconds
    pipeline = getattr(app.state, "event_pipeline", None)
    if pipeline is not None:
        pipeline.add_listener(heartbeat_listener(db, settings))

    async def loop() -> None:
        while True:
            try:
                await settle_expired_leases(db)
                await fail_expired_pauses(db)
            except Exception:
                logger.exception("Settling expired flow-run leases failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="flowyard-run-leases")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
