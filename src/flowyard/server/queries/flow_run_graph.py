"""What a flow run's graph is drawn from: its task runs, the subflow runs they track, its
artifacts and its states. Three or four statements whatever the size of the run."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm


async def read_graph_task_runs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    since: dt.datetime | None,
    limit: int,
) -> Sequence[Any]:
    """The run's task runs that start or end after ``since`` (all when None), oldest
    first, at most ``limit`` (the caller asks one more than it draws, to tell the run is
    too large)."""
    run = orm.TaskRun
    query = (
        sa.select(
            run.id, run.name, run.state_type, run.state_name, run.state_id, run.start_time,
            run.end_time, run.expected_start_time, run.total_run_time, run.task_inputs,
            run.state_timestamp,
        )  # fmt: skip
        .where(run.workspace_id == workspace_id, run.flow_run_id == flow_run_id)
        .order_by(sa.func.coalesce(run.start_time, run.expected_start_time, run.created), run.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(sa.or_(run.end_time.is_(None), run.end_time >= since))
    return (await session.execute(query)).all()


async def read_subflow_runs(
    session: AsyncSession, workspace_id: uuid.UUID, task_run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """The flow runs tracked by these task runs (subflows), by tracking task run id."""
    if not task_run_ids:
        return {}
    run = orm.FlowRun
    rows = await session.execute(
        sa.select(
            run.parent_task_run_id, run.id, run.name, run.state_type, run.start_time,
            run.end_time, run.expected_start_time,
        ).where(run.workspace_id == workspace_id, run.parent_task_run_id.in_(task_run_ids))
    )  # fmt: skip
    return {row.parent_task_run_id: row for row in rows}


async def read_graph_artifacts(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> Sequence[Any]:
    """The run's artifacts (those of its task runs included), except result artifacts, as
    the official graph leaves them out."""
    art = orm.Artifact
    query = (
        sa.select(art.id, art.created, art.key, art.type, art.data, art.task_run_id)
        .where(art.workspace_id == workspace_id, art.flow_run_id == flow_run_id)
        .where(sa.or_(art.type.is_(None), art.type != "result"))
        .order_by(art.created, art.id)
    )
    return (await session.execute(query)).all()


async def read_latest_artifact_ids(
    session: AsyncSession, workspace_id: uuid.UUID, keys: Sequence[str]
) -> set[uuid.UUID]:
    """Of these artifact keys, the id of the newest artifact of each."""
    if not keys:
        return set()
    art = orm.Artifact
    newest = (
        sa.select(art.key, sa.func.max(art.created).label("created"))
        .where(art.workspace_id == workspace_id, art.key.in_(keys))
        .group_by(art.key)
        .subquery()
    )
    rows = await session.scalars(
        sa.select(art.id).join(
            newest, sa.and_(art.key == newest.c.key, art.created == newest.c.created)
        ).where(art.workspace_id == workspace_id)
    )
    return set(rows)


async def read_flow_run_states(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> Sequence[Any]:
    state = orm.FlowRunState
    query = (
        sa.select(state.id, state.timestamp, state.type, state.name)
        .where(state.workspace_id == workspace_id, state.flow_run_id == flow_run_id)
        .order_by(state.timestamp, state.id)
    )
    return (await session.execute(query)).all()


async def read_task_run_states(
    session: AsyncSession, workspace_id: uuid.UUID, state_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, orm.TaskRunState]:
    if not state_ids:
        return {}
    rows = await session.scalars(
        sa.select(orm.TaskRunState).where(
            orm.TaskRunState.workspace_id == workspace_id, orm.TaskRunState.id.in_(state_ids)
        )
    )
    return {row.id: row for row in rows}
