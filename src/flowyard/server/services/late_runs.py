"""The late-runs monitor: Scheduled runs overdue by more than a threshold become Late.

Late is still a Scheduled state (a worker picks the run up all the same); the name tells
users, the UI and ``flowyard flow-run inspect`` that the run should have started and has
not. Each pass is one indexed query (the partial index on state name and next scheduled
start time holds only runs that are Scheduled) followed by one write transaction per batch,
handed to orchestration's bulk entry point (``orchestration.run_monitors.mark_runs_late``):
every run goes through the flow policy, so its history, bookkeeping and
``prefect.flow-run.Late`` event are right, and a run a worker has claimed since the query
ran is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.run_monitors import mark_runs_late
from flowyard.server.queries import run_monitors as queries
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.late_runs")

Stop = Callable[[], Awaitable[None]]
BATCH = 200


async def read_due_runs(
    db: Database, cutoff: dt.datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace_id, id) of runs named Scheduled whose start time is before ``cutoff``."""
    async with db.read() as session:
        return await queries.read_due_runs(session, cutoff, limit)


async def mark_late_runs(db: Database, after_seconds: float) -> int:
    """One pass: mark every overdue Scheduled run Late. Returns how many were marked."""
    marked = 0
    while True:
        cutoff = utcnow() - dt.timedelta(seconds=after_seconds)
        due = await read_due_runs(db, cutoff, BATCH)
        if not due:
            return marked
        async with db.write() as session:
            accepted = await mark_runs_late(session, due)
        marked += accepted
        # A full batch that orchestration refused entirely would come back forever.
        if len(due) < BATCH or not accepted:
            return marked


async def start(app: Any, interval: float | None = None) -> Stop:
    db: Database = app.state.db
    settings: Settings = app.state.settings
    every = interval if interval is not None else settings.server_services_late_runs_loop_seconds

    async def loop() -> None:
        while True:
            try:
                marked = await mark_late_runs(db, settings.server_services_late_runs_after_seconds)
                if marked:
                    logger.info("Marked %d flow runs Late", marked)
            except Exception:
                logger.exception("Marking late flow runs failed")
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="flowyard-late-runs")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
