"""Task runs: create (an upsert on flow run + task key + dynamic key), read with their
current state, filter, count, update, delete.

Most task runs never come through here: the official client reports them as events, and
the event recorder writes them. This module serves ``POST /task_runs/`` (a subflow's
wrapper task run, background tasks) and every read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.sorting import TaskRunSort
from flowyard.schemas.states import State
from flowyard.server.database import orm
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.errors import NotFound
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.history import estimated_lateness, estimated_run_time
from flowyard.server.queries.run_names import generate_run_name
from flowyard.server.queries.states import current_state

TaskRunWithState = tuple[orm.TaskRun, orm.TaskRunState | None]

# Every order ends on the id so that pages are stable; NULLs last on both dialects.
SORTS: dict[TaskRunSort, list[Any]] = {
    TaskRunSort.ID_DESC: [orm.TaskRun.id.desc()],
    TaskRunSort.EXPECTED_START_TIME_ASC: [
        orm.TaskRun.expected_start_time.asc().nulls_last(),
        orm.TaskRun.id.asc(),
    ],
    TaskRunSort.EXPECTED_START_TIME_DESC: [
        orm.TaskRun.expected_start_time.desc().nulls_last(),
        orm.TaskRun.id.desc(),
    ],
    TaskRunSort.NAME_ASC: [orm.TaskRun.name.asc(), orm.TaskRun.id.asc()],
    TaskRunSort.NAME_DESC: [orm.TaskRun.name.desc(), orm.TaskRun.id.desc()],
    TaskRunSort.NEXT_SCHEDULED_START_TIME_ASC: [
        orm.TaskRun.next_scheduled_start_time.asc().nulls_last(),
        orm.TaskRun.id.asc(),
    ],
    TaskRunSort.END_TIME_DESC: [orm.TaskRun.end_time.desc().nulls_last(), orm.TaskRun.id.desc()],
    TaskRunSort.DURATION_ASC: [orm.TaskRun.total_run_time.asc(), orm.TaskRun.id.asc()],
    TaskRunSort.DURATION_DESC: [orm.TaskRun.total_run_time.desc(), orm.TaskRun.id.desc()],
}


class FlowRunNotFound(NotFound):
    """The task run names a flow run this workspace does not have."""


def _with_state() -> sa.Select[orm.TaskRun, orm.TaskRunState]:
    # By id and workspace: a state id the run points at never brings another workspace's.
    its_state = sa.and_(
        orm.TaskRunState.id == orm.TaskRun.state_id,
        orm.TaskRunState.workspace_id == orm.TaskRun.workspace_id,
    )
    return sa.select(orm.TaskRun, orm.TaskRunState).outerjoin(orm.TaskRunState, its_state)


async def read_existing_task_run(
    session: AsyncSession, workspace_id: uuid.UUID, create: actions.TaskRunCreate
) -> TaskRunWithState | None:
    """The run a create would duplicate: same id, or same flow run, task key and dynamic key.

    Runs without a flow run (background tasks) are only ever matched by id.
    """
    matches = []
    if create.id is not None:
        matches.append(orm.TaskRun.id == create.id)
    if create.flow_run_id is not None:
        matches.append(
            sa.and_(
                orm.TaskRun.flow_run_id == create.flow_run_id,
                orm.TaskRun.task_key == create.task_key,
                orm.TaskRun.dynamic_key == create.dynamic_key,
            )
        )
    if not matches:
        return None
    query = _with_state().where(orm.TaskRun.workspace_id == workspace_id, sa.or_(*matches))
    row = (await session.execute(query.limit(1))).first()
    return None if row is None else (row[0], row[1])


async def create_task_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    create: actions.TaskRunCreate,
    *,
    now: dt.datetime | None = None,
) -> orm.TaskRun:
    """Add a new task run (not yet flushed, no state yet).

    Raises :class:`FlowRunNotFound` when ``flow_run_id`` is not a run of this workspace.
    """
    labels = dict(create.labels)
    if create.flow_run_id is not None:
        flow_id = await session.scalar(
            sa.select(orm.FlowRun.flow_id).where(
                orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == create.flow_run_id
            )
        )
        if flow_id is None:
            raise FlowRunNotFound(
                f"flow_run_id: no flow run {create.flow_run_id} in this workspace."
            )
        labels["prefect.flow.id"] = str(flow_id)
        labels["prefect.flow-run.id"] = str(create.flow_run_id)
    now = now or utcnow()
    # Every column is set, defaults included, so the response needs no read-back.
    run = orm.TaskRun(
        id=create.id or new_id(),
        workspace_id=workspace_id,
        created=now,
        updated=now,
        name=create.name or generate_run_name(),
        flow_run_id=create.flow_run_id,
        task_key=create.task_key,
        dynamic_key=create.dynamic_key,
        cache_key=create.cache_key,
        cache_expiration=create.cache_expiration,
        task_version=create.task_version,
        empirical_policy=create.empirical_policy.model_dump(mode="json"),
        tags=list(create.tags),
        labels=labels,
        task_inputs={
            name: [item.model_dump(mode="json", exclude_none=True) for item in inputs]
            for name, inputs in create.task_inputs.items()
        },
        state_id=None,
        state_type=None,
        state_name=None,
        state_timestamp=None,
        run_count=0,
        flow_run_run_count=0,
        total_run_time=0.0,
        expected_start_time=None,
        next_scheduled_start_time=None,
        start_time=None,
        end_time=None,
    )
    session.add(run)
    return run


async def read_task_run_with_state(
    session: AsyncSession, workspace_id: uuid.UUID, task_run_id: uuid.UUID
) -> TaskRunWithState | None:
    query = _with_state().where(
        orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.id == task_run_id
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def read_task_runs(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: TaskRunSort = TaskRunSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
) -> list[TaskRunWithState]:
    """Task runs matching ``conditions`` (see ``run_filters``), each with its state."""
    query = _with_state().where(*conditions).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return [(run, state) for run, state in (await session.execute(query)).all()]


async def count_task_runs(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.TaskRun).where(*conditions)
    return await session.scalar(query) or 0


async def update_task_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    task_run_id: uuid.UUID,
    update: actions.TaskRunUpdate,
) -> bool:
    """Change the fields the update sets. False when there is no such task run."""
    values = {k: v for k, v in update.model_dump(exclude_unset=True).items() if v is not None}
    result = await session.execute(
        sa.update(orm.TaskRun)
        .where(orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.id == task_run_id)
        .values(updated=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_task_run(
    session: AsyncSession, workspace_id: uuid.UUID, task_run_id: uuid.UUID
) -> bool:
    """Delete a task run with its states (by cascade) and its logs."""
    result = await session.execute(
        sa.delete(orm.TaskRun).where(
            orm.TaskRun.workspace_id == workspace_id, orm.TaskRun.id == task_run_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        sa.delete(orm.Log).where(
            orm.Log.workspace_id == workspace_id, orm.Log.task_run_id == task_run_id
        )
    )
    return True


def task_run_schema(
    run: orm.TaskRun, state: State | None, now: dt.datetime | None = None
) -> core.TaskRun:
    """The API's view of a task run: its columns, current state and live estimates."""
    now = now or utcnow()
    model = core.TaskRun.model_validate(run, from_attributes=True)
    model.state = state
    model.estimated_run_time = estimated_run_time(run, now)
    model.estimated_start_time_delta = estimated_lateness(run, now)
    return model


def task_run_schema_from_row(row: TaskRunWithState, now: dt.datetime | None = None) -> core.TaskRun:
    run, state = row
    return task_run_schema(run, current_state(run, state), now)
