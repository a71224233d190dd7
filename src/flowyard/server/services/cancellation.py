"""The cancellation monitor: finishes cancellations that nothing else will finish.

Cancelling a run moves it to Cancelling; whatever executes it (a worker's process, the
SDK engine told by its heartbeat) stops it and reports Cancelled. Each pass:

1. A cancelled flow run's unfinished task runs become Cancelled, its unfinished subflow
   runs are sent to Cancelling (their own process or worker stops them), and every
   concurrency slot the run or its tasks held is given back.
2. Concurrency slots still leased to flow or task runs that have finished (a run stopped
   by cancellation never got to release them) are given back.
3. A run Cancelling with no process to stop -- no ``infrastructure_pid`` from a worker and
   no live lease from an SDK process -- is marked Cancelled; so is one that has been
   Cancelling for longer than ``FLOWYARD_SERVER_SERVICES_CANCELLATION_TIMEOUT_SECONDS``
   (its worker died too).

Queries are per workspace and use the (workspace, state type) indexes. Every state change
is proposed by the orchestration entry points of ``orchestration.run_monitors``, with its
event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration import run_monitors
from flowyard.server.queries import run_leases as queries
from flowyard.server.queries import run_monitors as monitor_queries
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.cancellation")

Stop = Callable[[], Awaitable[None]]
BATCH = 200


async def finish_cancellations(db: Database, timeout_seconds: float) -> int:
    """One pass over every workspace. Returns how many runs were moved and leases released."""
    moved = 0
    async with db.read() as session:
        workspaces = await monitor_queries.read_workspace_ids(session)
    for workspace_id in workspaces:
        now = utcnow()
        async with db.read() as session:
            cancelled = await monitor_queries.read_cancelled_runs_with_unfinished_tasks(
                session, workspace_id, BATCH
            )
        for run_id in cancelled:
            async with db.write() as session:
                await run_monitors.cancel_children(session, workspace_id, run_id, now)
            moved += 1
        async with db.write() as session:
            moved += await queries.release_slots_of_finished_holders(session, workspace_id, now)
        async with db.read() as session:
            cancelling = await monitor_queries.read_cancelling_runs(session, workspace_id, BATCH)
            live = await queries.live_lease_run_ids(
                session, workspace_id, [run_id for run_id, _, _ in cancelling], now
            )
        deadline = now - dt.timedelta(seconds=timeout_seconds)
        for run_id, pid, since in cancelling:
            if pid or run_id in live:
                if since is None or since > deadline:
                    continue  # a worker or the run's own process is stopping it
                message = f"Nothing stopped the run within {timeout_seconds:g}s of cancelling."
            else:
                message = "The run was cancelled; it had no process to stop."
            async with db.write() as session:
                if await run_monitors.finish_cancelling(
                    session, workspace_id, run_id, message, now
                ):
                    moved += 1
    return moved


async def start(app: Any, interval: float | None = None) -> Stop:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    every = interval if interval is not None else settings.server_services_cancellation_loop_seconds

    async def loop() -> None:
        while True:
            try:
                await finish_cancellations(
                    db, settings.server_services_cancellation_timeout_seconds
                )
            except Exception:
                logger.exception("Finishing cancellations failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="flowyard-cancellation")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
