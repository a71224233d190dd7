"""State history: the states a run went through, oldest first.

Rows become :class:`~flowyard.schemas.states.State` here, in one place, so every endpoint
that shows a state (a run's nested ``state``, ``/flow_run_states/``, orchestration results
built from rows) renders it the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm

StateRow = orm.FlowRunState | orm.TaskRunState


def state_schema(row: StateRow) -> State:
    return State(
        id=row.id,
        type=StateType(row.type),
        name=row.name,
        timestamp=row.timestamp,
        message=row.message,
        data=row.data,
        state_details=StateDetails.model_validate(row.state_details or {}),
    )


def current_state(run: orm.FlowRun | orm.TaskRun, row: StateRow | None) -> State | None:
    """The run's current state: its history row, else what the run's own columns say.

    The fallback covers a history row removed by retention: the run still knows its type,
    name and timestamp, which is what lists and dashboards show.
    """
    if row is not None:
        return state_schema(row)
    if run.state_id is None or run.state_type is None:
        return None
    return State(
        id=run.state_id,
        type=StateType(run.state_type),
        name=run.state_name,
        timestamp=run.state_timestamp or run.updated or run.created,
    )


async def read_flow_run_states(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> Sequence[orm.FlowRunState]:
    """Every state of a flow run, oldest first (empty for an unknown run)."""
    query = (
        sa.select(orm.FlowRunState)
        .where(
            orm.FlowRunState.workspace_id == workspace_id,
            orm.FlowRunState.flow_run_id == flow_run_id,
        )
        .order_by(orm.FlowRunState.timestamp, orm.FlowRunState.id)
    )
    return (await session.scalars(query)).all()


async def read_flow_run_state(
    session: AsyncSession, workspace_id: uuid.UUID, state_id: uuid.UUID
) -> orm.FlowRunState | None:
    return await session.scalar(
        sa.select(orm.FlowRunState).where(
            orm.FlowRunState.workspace_id == workspace_id, orm.FlowRunState.id == state_id
        )
    )


async def read_task_run_states(
    session: AsyncSession, workspace_id: uuid.UUID, task_run_id: uuid.UUID
) -> Sequence[orm.TaskRunState]:
    """Every state of a task run, oldest first (empty for an unknown run)."""
    query = (
        sa.select(orm.TaskRunState)
        .where(
            orm.TaskRunState.workspace_id == workspace_id,
            orm.TaskRunState.task_run_id == task_run_id,
        )
        .order_by(orm.TaskRunState.timestamp, orm.TaskRunState.id)
    )
    return (await session.scalars(query)).all()


async def read_task_run_state(
    session: AsyncSession, workspace_id: uuid.UUID, state_id: uuid.UUID
) -> orm.TaskRunState | None:
    return await session.scalar(
        sa.select(orm.TaskRunState).where(
            orm.TaskRunState.workspace_id == workspace_id, orm.TaskRunState.id == state_id
        )
    )
