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

Queries are per workspace and use the (workspace, state type) indexes.
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

from flowyard.schemas.states import TERMINAL_STATES, StateCreate, StateType
from flowyard.server.database import orm
from flowyard.server.database.engine import Database
from flowyard.server.database.types import utcnow
from flowyard.server.orchestration.transitions import set_flow_run_state
from flowyard.server.queries import run_leases as queries
from flowyard.server.services.run_leases import release_run_holdings
from flowyard.settings import Settings

logger = logging.getLogger("flowyard.server.services.cancellation")

Stop = Callable[[], Awaitable[None]]
BATCH = 200
PARENT_CANCELLED = "The parent flow run was cancelled."
_UNFINISHED = sa.or_(
    orm.TaskRun.state_type.is_(None),
    orm.TaskRun.state_type.not_in([t.value for t in TERMINAL_STATES]),
)


async def cancel_children(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, now: dt.datetime
) -> None:
    """Step 1 for one cancelled flow run."""
    for subflow_id, _pid in await queries.unfinished_subflow_runs(
        session, workspace_id, flow_run_id
    ):
        cancelling = StateCreate(type=StateType.CANCELLING, message=PARENT_CANCELLED)
        await set_flow_run_state(session, workspace_id, subflow_id, cancelling)
    await release_run_holdings(
        session, workspace_id, flow_run_id, [], StateType.CANCELLED, PARENT_CANCELLED, now
    )


async def _cancelled_with_unfinished_tasks(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[uuid.UUID]:
    rows = await session.scalars(
        sa.select(orm.TaskRun.flow_run_id)
        .join(orm.FlowRun, orm.FlowRun.id == orm.TaskRun.flow_run_id)
        .where(
            orm.TaskRun.workspace_id == workspace_id,
            _UNFINISHED,
            orm.FlowRun.state_type == StateType.CANCELLED.value,
        )
        .distinct()
        .limit(BATCH)
    )
    return [run_id for run_id in rows if run_id is not None]


async def _cancelling_runs(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[tuple[uuid.UUID, str | None, dt.datetime | None]]:
    run = orm.FlowRun
    rows = await session.execute(
        sa.select(run.id, run.infrastructure_pid, run.state_timestamp)
        .where(run.workspace_id == workspace_id, run.state_type == StateType.CANCELLING.value)
        .order_by(run.state_timestamp)
        .limit(BATCH)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def finish_cancellations(db: Database, timeout_seconds: float) -> int:
    """One pass over every workspace. Returns how many runs were moved and leases released."""
    moved = 0
    async with db.read() as session:
        workspaces = list(await session.scalars(sa.select(orm.Workspace.id)))
    for workspace_id in workspaces:
        now = utcnow()
        async with db.read() as session:
            cancelled = await _cancelled_with_unfinished_tasks(session, workspace_id)
        for run_id in cancelled:
            async with db.write() as session:
                await cancel_children(session, workspace_id, run_id, now)
            moved += 1
        async with db.write() as session:
            moved += await queries.release_slots_of_finished_holders(session, workspace_id, now)
        async with db.read() as session:
            cancelling = await _cancelling_runs(session, workspace_id)
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
                done = StateCreate(type=StateType.CANCELLED, message=message)
                result = await set_flow_run_state(session, workspace_id, run_id, done)
                if result is not None and result.state is not None and result.state.is_terminal:
                    await cancel_children(session, workspace_id, run_id, now)
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
