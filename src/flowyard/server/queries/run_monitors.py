"""What the run monitors look for: overdue Scheduled runs, cancellations left unfinished,
expired pauses. Reads only; the state changes they lead to go through orchestration
(``orchestration.run_monitors``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import TERMINAL_STATES, StateType
from flowyard.server.database import orm

_UNFINISHED_TASK = sa.or_(
    orm.TaskRun.state_type.is_(None),
    orm.TaskRun.state_type.not_in([t.value for t in TERMINAL_STATES]),
)


async def read_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(sa.select(orm.Workspace.id)))


async def read_due_runs(
    session: AsyncSession, cutoff: dt.datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace_id, id) of runs named Scheduled whose start time is before ``cutoff``,
    in every workspace: one query on the partial index of Scheduled runs."""
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
    return [(row[0], row[1]) for row in await session.execute(query)]


async def read_cancelled_runs_with_unfinished_tasks(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    rows = await session.scalars(
        sa.select(orm.TaskRun.flow_run_id)
        .join(orm.FlowRun, orm.FlowRun.id == orm.TaskRun.flow_run_id)
        .where(
            orm.TaskRun.workspace_id == workspace_id,
            _UNFINISHED_TASK,
            orm.FlowRun.state_type == StateType.CANCELLED.value,
        )
        .distinct()
        .limit(limit)
    )
    return [run_id for run_id in rows if run_id is not None]


async def read_cancelling_runs(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> list[tuple[uuid.UUID, str | None, dt.datetime | None]]:
    """(id, infrastructure_pid, since) of the workspace's Cancelling runs, oldest first."""
    run = orm.FlowRun
    rows = await session.execute(
        sa.select(run.id, run.infrastructure_pid, run.state_timestamp)
        .where(run.workspace_id == workspace_id, run.state_type == StateType.CANCELLING.value)
        .order_by(run.state_timestamp)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def read_flow_run(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> orm.FlowRun | None:
    """The run as stored now (refreshing any copy the session holds)."""
    run = await session.get(orm.FlowRun, flow_run_id, populate_existing=True)
    return run if run is not None and run.workspace_id == workspace_id else None


async def read_state_details(
    session: AsyncSession, state_id: uuid.UUID | None
) -> dict[str, Any]:
    if state_id is None:
        return {}
    details = await session.scalar(
        sa.select(orm.FlowRunState.state_details).where(orm.FlowRunState.id == state_id)
    )
    return details or {}


async def lock_paused_run(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> tuple[str | None, dict[str, Any]] | None:
    """The run's state type and current state details, under the run's row lock."""
    row = (
        await session.execute(
            sa.select(orm.FlowRun.state_type, orm.FlowRunState.state_details)
            .join(
                orm.FlowRunState,
                sa.and_(
                    orm.FlowRunState.id == orm.FlowRun.state_id,
                    orm.FlowRunState.workspace_id == orm.FlowRun.workspace_id,
                ),
            )
            .where(orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id)
            .with_for_update(of=orm.FlowRun)
        )
    ).first()
    return None if row is None else (row[0], row[1] or {})


async def read_task_run_ids(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> Sequence[uuid.UUID]:
    return (
        await session.scalars(
            sa.select(orm.TaskRun.id).where(
                orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.flow_run_id == flow_run_id
            )
        )
    ).all()
