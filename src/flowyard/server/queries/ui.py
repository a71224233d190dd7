"""The aggregate reads behind the ``/ui/*`` routes: one grouped statement each."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.flow_runs import SORTS
from flowyard.server.queries.history import estimated_lateness_sql, estimated_run_time_sql


async def read_flow_run_points(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: FlowRunSort,
    limit: int,
    offset: int,
    now: dt.datetime,
    dialect: str,
) -> Sequence[Any]:
    """Per run: id, state type, when it started (or is expected to), duration, lateness."""
    run = orm.FlowRun
    query = (
        sa.select(
            run.id,
            run.state_type,
            sa.func.coalesce(run.start_time, run.expected_start_time).label("timestamp"),
            estimated_run_time_sql(run, now, dialect).label("duration"),
            estimated_lateness_sql(run, now, dialect).label("lateness"),
        )
        .where(*conditions)
        .order_by(*SORTS[sort])
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(query)).all()


async def count_task_runs_by_flow_run(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    task = orm.TaskRun
    rows = await session.execute(
        sa.select(task.flow_run_id, sa.func.count())
        .where(task.workspace_id == workspace_id, task.flow_run_id.in_(flow_run_ids))
        .group_by(task.flow_run_id)
    )
    return {flow_run_id: count for flow_run_id, count in rows if flow_run_id is not None}


async def count_deployments_by_flow(
    session: AsyncSession, workspace_id: uuid.UUID, flow_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        sa.select(Deployment.flow_id, sa.func.count())
        .where(Deployment.workspace_id == workspace_id, Deployment.flow_id.in_(flow_ids))
        .group_by(Deployment.flow_id)
    )
    return {flow_id: count for flow_id, count in rows}


async def read_next_runs_by_flow(
    session: AsyncSession, workspace_id: uuid.UUID, flow_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[uuid.UUID, Any]:
    """Each flow's soonest Scheduled run due after ``now``."""
    run = orm.FlowRun
    due = sa.and_(
        run.workspace_id == workspace_id,
        run.flow_id.in_(flow_ids),
        run.state_type == StateType.SCHEDULED.value,
        run.next_scheduled_start_time >= now,
    )
    rank = (
        sa.func.row_number()
        .over(partition_by=run.flow_id, order_by=(run.next_scheduled_start_time, run.id))
        .label("rank")
    )
    ranked = sa.select(
        run.id, run.flow_id, run.name, run.state_name, run.state_type,
        run.next_scheduled_start_time, rank,
    ).where(due).subquery()  # fmt: skip
    rows = await session.execute(sa.select(ranked).where(ranked.c.rank == 1))
    return {row.flow_id: row for row in rows}


async def count_task_runs_by_state(
    session: AsyncSession, conditions: Sequence[Condition]
) -> dict[str, int]:
    rows = await session.execute(
        sa.select(orm.TaskRun.state_type, sa.func.count())
        .where(*conditions)
        .group_by(orm.TaskRun.state_type)
    )
    return {state_type: count for state_type, count in rows if state_type is not None}


async def read_task_run_outcomes(
    session: AsyncSession, conditions: Sequence[Condition], since: dt.datetime
) -> Sequence[Any]:
    """(when it ended or last changed, state type) of finished task runs since ``since``."""
    task = orm.TaskRun
    when = sa.func.coalesce(task.end_time, task.state_timestamp)
    rows = await session.execute(
        sa.select(when.label("at"), task.state_type).where(
            *conditions,
            task.state_type.in_([StateType.COMPLETED.value, StateType.FAILED.value,
                                 StateType.CRASHED.value]),
            when >= since,
        )
    )  # fmt: skip
    return rows.all()


async def read_flow_run_name(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID | None
) -> str | None:
    if flow_run_id is None:
        return None
    return await session.scalar(
        sa.select(orm.FlowRun.name).where(
            orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
        )
    )
