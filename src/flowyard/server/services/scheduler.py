"""The scheduler: keeps the next runs of every active schedule created.

Every ``LOOP_SECONDS`` (and at once when a deployment or schedule is created, changed or
resumed in this process: :func:`wake`) it walks the non-paused deployments that have an
active schedule, a batch at a time, and inserts the missing runs of each (bounded by count
and horizon, see ``queries.schedules``). Inserts are idempotent per (schedule, slot), so
several server processes on one database may all run this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database.engine import Database
from flowyard.server.database.orm_deployments import Deployment, DeploymentSchedule
from flowyard.server.database.types import utcnow
from flowyard.server.queries import schedules as schedule_queries

logger = logging.getLogger("flowyard.server.services.scheduler")

LOOP_SECONDS = 5.0
BATCH = 50
Stop = Callable[[], Awaitable[None]]

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Ask the loops of this process to look again now."""
    for event in list(_wakers):
        event.set()


async def schedule_deployment(
    session: AsyncSession, deployment: Deployment, now: dt.datetime | None = None
) -> int:
    """Insert the missing runs of one deployment (none while it is paused)."""
    if deployment.paused:
        return 0
    schedules = await schedule_queries.read_schedules(
        session, deployment.workspace_id, deployment.id
    )
    return await schedule_queries.schedule_deployment_runs(
        session, deployment, schedules, now or utcnow()
    )


async def schedule_all(db: Database, now: dt.datetime | None = None) -> int:
    """One pass over every workspace: returns how many runs were created."""
    total = 0
    after = None
    while True:
        async with db.read() as session:
            query = (
                sa.select(Deployment.id)
                .where(
                    Deployment.paused.is_(False),
                    Deployment.id.in_(
                        sa.select(DeploymentSchedule.deployment_id).where(
                            DeploymentSchedule.active.is_(True)
                        )
                    ),
                )
                .order_by(Deployment.id)
                .limit(BATCH)
            )
            if after is not None:
                query = query.where(Deployment.id > after)
            ids = list((await session.scalars(query)).all())
        if not ids:
            return total
        # One transaction per batch: the runs of up to BATCH deployments in one commit.
        async with db.write() as session:
            # FOR SHARE, before the schedules are read: an edit of a deployment's schedules
            # or a pause (which lock the row, then delete the runs already made) waits for
            # this pass to commit, so its delete sees these runs (see queries.schedules).
            # SKIP LOCKED: a deployment some transaction is writing is left to the next
            # pass, read after that write committed; never waiting here means no deadlock
            # with writers that lock several deployments in another order. Schedulers
            # share the lock with each other.
            rows = (
                await session.scalars(
                    sa.select(Deployment)
                    .where(Deployment.id.in_(ids))
                    .order_by(Deployment.id)
                    .with_for_update(read=True, skip_locked=True)
                    .execution_options(populate_existing=True)
                )
            ).all()
            by_deployment = await schedule_queries.read_schedules_of(session, ids)
            batch = [(row, by_deployment.get(row.id, [])) for row in rows if not row.paused]
            total += await schedule_queries.schedule_runs(session, batch, now or utcnow())
        after = ids[-1]
        if len(ids) < BATCH:
            return total


async def start(app: Any, interval: float = LOOP_SECONDS) -> Stop:
    db: Database = app.state.db
    event = asyncio.Event()
    _wakers.add(event)

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
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
