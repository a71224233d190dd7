"""How orchestration reads and writes runs: lock a run, read its current state, write a new
state together with the run's denormalised copy of it. Data access only: the rules that
decide which state is written live in ``orchestration/``, the only caller of the writers.

Nothing here commits; everything happens in the caller's transaction.

Flow runs, whose transitions are the hottest writes of the API, skip the ORM unit of work:
:func:`load_flow_run` reads the run and its state with one prepared statement into a
*detached* ``orm.FlowRun`` (the rules see the same object as ever), and
:func:`save_flow_run_transition` writes the new state row and only the run columns the
transition changed. Task runs go through the session as before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import manager_of_class

from flowyard.schemas.states import State, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.database.prepared import Prepared, insert_statement

RunT = TypeVar("RunT", orm.FlowRun, orm.TaskRun)

FLOW_RUN_TABLE = cast(sa.Table, orm.FlowRun.__table__)
FLOW_RUN_STATE_TABLE = cast(sa.Table, orm.FlowRunState.__table__)
FLOW_RUN_COLUMNS: tuple[str, ...] = tuple(FLOW_RUN_TABLE.c.keys())
FLOW_RUN_STATE_COLUMNS: tuple[str, ...] = tuple(FLOW_RUN_STATE_TABLE.c.keys())
_RUN = FLOW_RUN_TABLE.c
_STATE = FLOW_RUN_STATE_TABLE.c
_BY_ID = (_RUN.id == sa.bindparam("id"), _RUN.workspace_id == sa.bindparam("workspace_id"))
# A run's state is read by id *and* workspace, wherever it is joined: state ids are unique
# across the server, and one a run points at must never bring another workspace's state.
_ITS_STATE = sa.and_(_STATE.id == _RUN.state_id, _STATE.workspace_id == _RUN.workspace_id)

# SQLite: the run and its state in one statement (writes are serialised by BEGIN IMMEDIATE).
_LOAD_RUN_AND_STATE = Prepared(
    sa.select(*_RUN, *_STATE).outerjoin(FLOW_RUN_STATE_TABLE, _ITS_STATE).where(*_BY_ID)
)
# PostgreSQL: lock the row first, then read the state committed by whoever held the lock.
_LOCK_RUN = Prepared(sa.select(*_RUN).where(*_BY_ID).with_for_update())
_READ_STATE = Prepared(
    sa.select(*_STATE).where(
        _STATE.id == sa.bindparam("id"), _STATE.workspace_id == sa.bindparam("workspace_id")
    )
)
INSERT_FLOW_RUN = Prepared(insert_statement(FLOW_RUN_TABLE))
_INSERT_FLOW_RUN_STATE = Prepared(insert_statement(FLOW_RUN_STATE_TABLE))
_UPDATES: dict[tuple[str, ...], Prepared] = {}
_UNSET = object()


def detached_flow_run(values: Mapping[str, Any]) -> orm.FlowRun:
    """An ``orm.FlowRun`` holding ``values``, in no session (nothing is flushed from it).

    Built the way SQLAlchemy's loader builds instances, without a constructor call per
    attribute; attribute reads and writes behave as on any instance.
    """
    run: orm.FlowRun = manager_of_class(orm.FlowRun).new_instance()
    run.__dict__.update(values)
    return run


def flow_run_values(run: orm.FlowRun) -> dict[str, Any]:
    """Every column of a run, as stored or about to be."""
    values = run.__dict__
    return {key: values.get(key) for key in FLOW_RUN_COLUMNS}


async def load_flow_run(
    session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID
) -> tuple[orm.FlowRun, State | None] | None:
    """The flow run (detached, see :func:`detached_flow_run`) and its current state, locked
    against concurrent transitions for the rest of the transaction; None if it is not here."""
    params = {"id": run_id, "workspace_id": workspace_id}
    if session.sync_session.get_bind().dialect.name == "sqlite":
        row = await _LOAD_RUN_AND_STATE.first(session, params)
        if row is None:
            return None
        count = len(FLOW_RUN_COLUMNS)
        run = detached_flow_run(dict(zip(FLOW_RUN_COLUMNS, row[:count], strict=True)))
        state_values = row[count:]
    else:
        run_row = await _LOCK_RUN.first(session, params)
        if run_row is None:
            return None
        run = detached_flow_run(dict(zip(FLOW_RUN_COLUMNS, run_row, strict=True)))
        state_values = ()
        if run.state_id is not None:
            params = {"id": run.state_id, "workspace_id": workspace_id}
            state_values = await _READ_STATE.first(session, params) or ()
    if run.state_id is None:
        return run, None
    if state_values and state_values[0] is not None:
        return run, state_from_values(dict(zip(FLOW_RUN_STATE_COLUMNS, state_values, strict=True)))
    return run, _state_from_run(run)


async def save_flow_run_transition(
    session: AsyncSession,
    run: orm.FlowRun,
    before: Mapping[str, Any],
    written: State | None,
    now: dt.datetime,
) -> None:
    """Persist a transition of a run that :func:`load_flow_run` read: the state row it wrote
    (if any), then the columns that changed since ``before`` (with ``updated``)."""
    if written is not None:
        await _INSERT_FLOW_RUN_STATE.run(session, flow_run_state_row(run, written, now))
    values = run.__dict__
    changed = {
        key: values[key]
        for key in FLOW_RUN_COLUMNS
        if key in values and before.get(key, _UNSET) != values[key]
    }
    if not changed:
        return
    changed["updated"] = run.updated = now
    keys = tuple(sorted(changed))
    update = _UPDATES.get(keys)
    if update is None:
        update = _UPDATES[keys] = Prepared(
            sa.update(FLOW_RUN_TABLE)
            .where(_RUN.id == sa.bindparam("run_id"))
            .values({key: sa.bindparam(key) for key in keys})
        )
    await update.run(session, {**changed, "run_id": run.id})


async def insert_flow_run(
    session: AsyncSession, run: orm.FlowRun, written: State, now: dt.datetime
) -> None:
    """Insert a new run (every column) and its first state."""
    await INSERT_FLOW_RUN.run(session, flow_run_values(run))
    await _INSERT_FLOW_RUN_STATE.run(session, flow_run_state_row(run, written, now))


def flow_run_state_row(run: orm.FlowRun, state: State, created: dt.datetime) -> dict[str, Any]:
    return {
        "id": state.id,
        "workspace_id": run.workspace_id,
        "flow_run_id": run.id,
        "created": created,
        "type": state.type.value,
        "name": state.name,
        "timestamp": state.timestamp,
        "message": state.message,
        "data": state.data,
        "state_details": state.state_details.model_dump(mode="json"),
    }


def state_from_values(values: Mapping[str, Any]) -> State:
    """A State from a state row's columns."""
    return State(
        id=values["id"],
        type=StateType(values["type"]),
        name=values["name"],
        timestamp=values["timestamp"],
        message=values["message"],
        data=values["data"],
        state_details=StateDetails.model_validate(values["state_details"] or {}),
    )


def _state_from_run(run: orm.FlowRun | orm.TaskRun) -> State:
    # The history row is gone (retention) but the run still says where it stands.
    assert run.state_id is not None
    return State(
        id=run.state_id,
        type=StateType(run.state_type or StateType.PENDING),
        name=run.state_name,
        timestamp=run.state_timestamp or run.updated,
    )


def point_run_at_state(run: orm.RunMixin, state: State) -> None:
    """The run's denormalised copy of its current state."""
    run.state_id = state.id
    run.state_type = state.type.value
    run.state_name = state.name
    run.state_timestamp = state.timestamp


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
        .outerjoin(
            history,
            sa.and_(history.id == model.state_id, history.workspace_id == model.workspace_id),
        )
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
    if row is not None and row.workspace_id == run.workspace_id:
        return state_from_row(row)
    return _state_from_run(run)


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
    point_run_at_state(run, state)


async def read_parent_flow_run(session: AsyncSession, run: orm.RunMixin) -> orm.FlowRun | None:
    """The flow run a task run belongs to (None for flow runs and for background tasks)."""
    if not isinstance(run, orm.TaskRun) or run.flow_run_id is None:
        return None
    return await session.scalar(
        sa.select(orm.FlowRun).where(
            orm.FlowRun.id == run.flow_run_id, orm.FlowRun.workspace_id == run.workspace_id
        )
    )
