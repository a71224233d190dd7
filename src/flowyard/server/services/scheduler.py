"""The scheduler: keeps the next runs of every active schedule created.

Every ``LOOP_SECONDS`` (and at once when a deployment is created or changed in this process:
it listens to the committed ``prefect.deployment.*`` events; or when asked, :func:`wake`) it
walks the non-paused deployments that have an active schedule, a batch at a time, and inserts
the missing runs of each (bounded by count and horizon, see ``queries.schedules``) through
``orchestration.scheduled_runs``, ``RUNS_PER_TRANSACTION`` at a time and at most
``MAX_RUNS_PER_PASS`` in one pass. Inserts are idempotent per (schedule, slot), so several
server processes on one database may all run this loop.
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
from flowyard.server.orchestration import scheduled_runs
from flowyard.server.queries import schedules as schedule_queries

logger = logging.getLogger("flowyard.server.services.scheduler")

LOOP_SECONDS = 5.0
# Deployments read per page of a pass.
BATCH = 50
# Runs written per transaction (each with its state row and event): a few milliseconds of
# the single writer on SQLite.
RUNS_PER_TRANSACTION = 500
# Runs one pass makes in all; a deployment gets at most queries.schedules'
# MAX_RUNS_PER_DEPLOYMENT of them. What is left waits for the next pass, LOOP_SECONDS on.
MAX_RUNS_PER_PASS = 10_000
DEPLOYMENT_EVENTS = ("prefect.deployment.created", "prefect.deployment.updated")
Stop = Callable[[], Awaitable[None]]

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Ask the loops of this process to look again now."""
    for event in list(_wakers):
        event.set()


async def _on_commit(events: Sequence[tuple[uuid.UUID, core.Event]]) -> None:
    # A deployment created or changed (its schedules, paused) has had its runs made in its
    # own transaction; a pass now tops up anything that transaction could not see.
    if any(item.event.startswith(DEPLOYMENT_EVENTS) for _, item in events):
        wake()


async def schedule_all(
    db: Database,
    now: dt.datetime | None = None,
    *,
    chunk: int = RUNS_PER_TRANSACTION,
    pass_limit: int = MAX_RUNS_PER_PASS,
) -> int:
    """One pass over every workspace: returns how many runs were created (at most
    ``pass_limit``; the next pass makes the rest)."""
    total = 0
    after = None
    while total < pass_limit:
        async with db.read() as session:
            ids = await schedule_queries.scheduled_deployment_ids(session, after, BATCH)
        if not ids:
            return total
        # A transaction per chunk of runs, the writer released in between: a heartbeat or
        # a lease renewal waits for one chunk at most, never for the whole pass. Each
        # chunk finds the runs of the previous ones taken and makes the next ones.
        while total < pass_limit:
            limit = min(chunk, pass_limit - total)
            async with db.write() as session:
                # Locked first (FOR SHARE SKIP LOCKED), then their schedules read: see
                # queries.schedules for the race with an edit this settles.
                batch = await schedule_queries.lock_for_scheduling(session, ids)
                made = await scheduled_runs.schedule_runs(
                    session, batch, now or utcnow(), limit=limit
                )
            total += made
            if made < limit:
                break
        after = ids[-1]
        if len(ids) < BATCH:
            return total
    return total


async def start(app: Any, interval: float = LOOP_SECONDS) -> Stop:
    db: Database = app.state.db
    event = asyncio.Event()
    _wakers.add(event)
    # Stored events only: deployment changes, never the task-run states.
    db.add_commit_listener(_on_commit, announced=False)

    async def loop() -> None:
        while True:
            event.clear()
            try:
                created = await schedule_all(db)
                if created:
                    logger.info("Scheduled %d flow runs", created)
            except Exception:
                logger.exception("Scheduling flow runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), interval)

    task = asyncio.create_task(loop(), name="flowyard-scheduler")

    async def stop() -> None:
        _wakers.discard(event)
        db.remove_commit_listener(_on_commit)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
