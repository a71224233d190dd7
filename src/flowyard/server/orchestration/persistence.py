"""How orchestration reads and writes: lock a run, read its current state, write a new state
together with the run's denormalised copy of it.

Nothing here commits; everything happens in the caller's transaction.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm

RunT = TypeVar("RunT", orm.FlowRun, orm.TaskRun)


async def lock_run(
    session: AsyncSession, model: type[RunT], workspace_id: uuid.UUID, run_id: uuid.UUID
) -> RunT | None:
    """Read a run for update so that concurrent transitions of it are serialised.

    PostgreSQL takes a row lock until the transaction ends. SQLite has no row locks (the
    clause is left out when compiling), but its write transactions begin IMMEDIATE, which
    already excludes every other writer. ``populate_existing`` refreshes a copy of the run
    that the session may hold from before the lock was taken.
    """
    statement = (
        sa.select(model)
        .where(model.id == run_id, model.workspace_id == workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def lock_run_and_state(
    session: AsyncSession, model: type[RunT], workspace_id: uuid.UUID, run_id: uuid.UUID
) -> tuple[RunT, State | None] | None:
    """The locked run and its current state, or None if there is no such run here.

    On SQLite one joined statement does: the IMMEDIATE transaction already excludes other
    writers, and every statement saved counts (each is a hop to the driver's thread). On
    PostgreSQL a join would read the state row from the snapshot taken *before* waiting for
    the lock, missing a state committed meanwhile, so the state is read after the lock.
    """
    if session.get_bind().dialect.name != "sqlite":
        run = await lock_run(session, model, workspace_id, run_id)
        return None if run is None else (run, await read_current_state(session, run))
    history = state_model(model)
    statement = (
        sa.select(model, history)
        .outerjoin(history, history.id == model.state_id)
        .where(model.id == run_id, model.workspace_id == workspace_id)
        .execution_options(populate_existing=True)
    )
    found = (await session.execute(statement)).first()
    if found is None:
        return None
    run, row = found
    if isinstance(row, orm.FlowRunState | orm.TaskRunState):
        return run, state_from_row(row)
    return run, await read_current_state(session, run)


def state_model(
    run: orm.RunMixin | type[orm.RunMixin],
) -> type[orm.FlowRunState] | type[orm.TaskRunState]:
    is_flow = run is orm.FlowRun or isinstance(run, orm.FlowRun)
    return orm.FlowRunState if is_flow else orm.TaskRunState


async def read_current_state(
    session: AsyncSession, run: orm.FlowRun | orm.TaskRun
) -> State | None:
    """The run's current state. Runs after ``lock_run`` so that, on PostgreSQL, it sees a
    state committed by whoever held the lock before us (a fresh READ COMMITTED snapshot)."""
    if run.state_id is None:
        return None
    row: orm.FlowRunState | orm.TaskRunState | None = await session.get(
        state_model(run), run.state_id
    )
    if row is not None:
        return state_from_row(row)
    # The history row is gone (retention) but the run still says where it stands.
    return State(
        id=run.state_id,
        type=StateType(run.state_type or StateType.PENDING),
        name=run.state_name,
        timestamp=run.state_timestamp or run.updated,
    )


def state_from_row(row: orm.FlowRunState | orm.TaskRunState) -> State:
    return State(
        id=row.id,
        type=StateType(row.type),
        name=row.name,
        timestamp=row.timestamp,
        message=row.message,
        data=row.data,
        state_details=StateDetails.model_validate(row.state_details or {}),
    )


def write_state(session: AsyncSession, run: orm.RunMixin, state: State) -> None:
    """Add the state row and point the run at it (flushed with the caller's next flush)."""
    assert isinstance(run, orm.FlowRun | orm.TaskRun)
    values: dict[str, Any] = {
        "id": state.id,
        "workspace_id": run.workspace_id,
        "type": state.type.value,
        "name": state.name,
        "timestamp": state.timestamp,
        "message": state.message,
        "data": state.data,
        "state_details": state.state_details.model_dump(mode="json"),
    }
    if isinstance(run, orm.FlowRun):
        session.add(orm.FlowRunState(flow_run_id=run.id, **values))
    else:
        session.add(orm.TaskRunState(task_run_id=run.id, **values))
    run.state_id = state.id
    run.state_type = state.type.value
    run.state_name = state.name
    run.state_timestamp = state.timestamp


async def read_parent_flow_run(session: AsyncSession, run: orm.RunMixin) -> orm.FlowRun | None:
    """The flow run a task run belongs to (None for flow runs and for background tasks)."""
    if not isinstance(run, orm.TaskRun) or run.flow_run_id is None:
        return None
    return await session.scalar(
        sa.select(orm.FlowRun).where(
            orm.FlowRun.id == run.flow_run_id, orm.FlowRun.workspace_id == run.workspace_id
        )
    )
