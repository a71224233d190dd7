"""The late-runs monitor: Scheduled runs overdue by more than a threshold become Late.

Late is still a Scheduled state (a worker picks the run up all the same); the name tells
users, the UI and ``flowyard flow-run inspect`` that the run should have started and has
not. Each pass is one indexed query (the partial index on state name and next scheduled
start time holds only runs that are Scheduled) followed by one write transaction per batch,
every run going through orchestration so its history and bookkeeping are right: a run a
worker has claimed since the query ran is left alone by the rule that only Scheduled runs
may be marked Late.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import SetStateStatus, StateCreate, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.persistence import load_flow_run
from flowyard.server.orchestration.transitions import set_flow_run_state
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.late_runs")

Stop = Callable[[], Awaitable[None]]
BATCH = 200


async def read_due_runs(
    db: Database, cutoff: dt.datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace_id, id) of runs named Scheduled whose start time is before ``cutoff``."""
    run = orm.FlowRun
    query = (
        sa.select(run.workspace_id, run.id)
        .where(
            run.state_name == "Scheduled",
            run.next_scheduled_start_time.is_not(None),
            run.next_scheduled_start_time <= cutoff,
            run.state_type == StateType.SCHEDULED.value,
        )
        .order_by(run.next_scheduled_start_time)
        .limit(limit)
    )
    async with db.read() as session:
        return [(row[0], row[1]) for row in await session.execute(query)]


async def mark_late(session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID) -> bool:
    """Mark one run Late if it is still plainly Scheduled, read under the run's lock: a
    second server (or a worker's claim) that got there first is not repeated as Late ->
    Late. True when the run was marked."""
    found = await load_flow_run(session, workspace_id, run_id)
    if found is None or found[1] is None or found[1].name != "Scheduled":
        return False
    if found[1].type != StateType.SCHEDULED:
        return False
    late = StateCreate(type=StateType.SCHEDULED, name="Late")
    result = await set_flow_run_state(session, workspace_id, run_id, late)
    return result is not None and result.status == SetStateStatus.ACCEPT


async def mark_late_runs(db: Database, after_seconds: float) -> int:
    """One pass: mark every overdue Scheduled run Late. Returns how many were marked."""
    marked = 0
    while True:
        cutoff = utcnow() - dt.timedelta(seconds=after_seconds)
        due = await read_due_runs(db, cutoff, BATCH)
        if not due:
            return marked
        accepted = 0
        async with db.write() as session:
            for workspace_id, run_id in due:
                accepted += await mark_late(session, workspace_id, run_id)
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
