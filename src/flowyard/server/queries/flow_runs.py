"""Flow runs: create, read (with their current state), filter, count, update, delete.

Creating a run only builds it (outside the session); the caller passes it to orchestration
for its initial state, which inserts the run and its first state together. Reads that return
runs for a response load each run's current state in the same statement (an outer join on
``state_id``), never one query per run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions, core
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import State
from flowyard.server.database import orm
from flowyard.server.database.prepared import Prepared
from flowyard.server.database.raw import RawDecoder, untyped_columns
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.history import (
    estimated_lateness,
    estimated_run_time,
    lateness_estimate,
    run_time_estimate,
)
from flowyard.server.queries.run_names import generate_run_name
from flowyard.server.queries.run_states import (
    FLOW_RUN_COLUMNS,
    FLOW_RUN_STATE_TABLE,
    FLOW_RUN_TABLE,
    detached_flow_run,
    flow_run_values,
)

# A run's columns (in FLOW_RUN_COLUMNS order) followed by its current state row's columns
# (FLOW_RUN_STATE_COLUMNS; all None when there is no state row), as stored: reads for
# responses build no ORM instances and convert no values pydantic converts anyway (see
# ``database.raw``).
FlowRunWithState = Sequence[Any]
_RUN_WIDTH = len(FLOW_RUN_COLUMNS)
_RUN_DECODER = RawDecoder(FLOW_RUN_TABLE)
_STATE_DECODER = RawDecoder(FLOW_RUN_STATE_TABLE)

_started = sa.func.coalesce(orm.FlowRun.start_time, orm.FlowRun.expected_start_time)
# Every order ends on the id so that pages never overlap or skip rows that tie. NULLs go
# last on both dialects (SQLite would otherwise put them first when ascending).
SORTS: dict[FlowRunSort, list[Any]] = {
    FlowRunSort.ID_DESC: [orm.FlowRun.id.desc()],
    # Runs that have not started yet sort by when they are expected to.
    FlowRunSort.START_TIME_ASC: [_started.asc().nulls_last(), orm.FlowRun.id.asc()],
    FlowRunSort.START_TIME_DESC: [_started.desc().nulls_last(), orm.FlowRun.id.desc()],
    FlowRunSort.EXPECTED_START_TIME_ASC: [
        orm.FlowRun.expected_start_time.asc().nulls_last(),
        orm.FlowRun.id.asc(),
    ],
    FlowRunSort.EXPECTED_START_TIME_DESC: [
        orm.FlowRun.expected_start_time.desc().nulls_last(),
        orm.FlowRun.id.desc(),
    ],
    FlowRunSort.NAME_ASC: [orm.FlowRun.name.asc(), orm.FlowRun.id.asc()],
    FlowRunSort.NAME_DESC: [orm.FlowRun.name.desc(), orm.FlowRun.id.desc()],
    FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC: [
        orm.FlowRun.next_scheduled_start_time.asc().nulls_last(),
        orm.FlowRun.id.asc(),
    ],
    FlowRunSort.END_TIME_DESC: [orm.FlowRun.end_time.desc().nulls_last(), orm.FlowRun.id.desc()],
}

# Update fields whose columns cannot hold NULL: an explicit null leaves them as they are.
_NOT_NULL_UPDATES = frozenset({"name", "parameters", "empirical_policy", "tags", "job_variables"})


_FLOW_LABELS = Prepared(
    sa.select(orm.Flow.labels).where(
        orm.Flow.id == sa.bindparam("flow_id"),
        orm.Flow.workspace_id == sa.bindparam("workspace_id"),
    )
)


async def read_flow_labels(
    session: AsyncSession, workspace_id: uuid.UUID, flow_id: uuid.UUID
) -> dict[str, Any] | None:
    """The flow's labels, or None when the workspace has no such flow."""
    row = await _FLOW_LABELS.first(session, {"flow_id": flow_id, "workspace_id": workspace_id})
    return None if row is None else dict(row[0] or {})


async def create_flow_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    create: actions.FlowRunCreate,
    *,
    now: dt.datetime | None = None,
) -> orm.FlowRun | None:
    """A new run, not stored yet and without a state (``transitions.insert_new_flow_run``
    gives it both). None when the flow is unknown."""
    flow_labels = await read_flow_labels(session, workspace_id, create.flow_id)
    if flow_labels is None:
        return None
    now = now or utcnow()
    labels = {**flow_labels, **create.labels, "prefect.flow.id": str(create.flow_id)}
    if create.deployment_id is not None:
        labels["prefect.deployment.id"] = str(create.deployment_id)
    # Every column is set here, defaults included, so the response can be built from this
    # object without reading the row back.
    return detached_flow_run(
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "created": now,
            "updated": now,
            "name": create.name or generate_run_name(),
            "flow_id": create.flow_id,
            "flow_version": create.flow_version,
            "deployment_id": create.deployment_id,
            "deployment_version": None,
            "parameters": create.parameters,
            "context": create.context,
            "parent_task_run_id": create.parent_task_run_id,
            "infrastructure_document_id": create.infrastructure_document_id,
            "infrastructure_pid": None,
            "empirical_policy": create.empirical_policy.model_dump(mode="json"),
            "tags": list(create.tags),
            "labels": labels,
            "idempotency_key": create.idempotency_key,
            "work_queue_id": None,
            "work_queue_name": create.work_queue_name,
            "work_pool_id": None,
            "work_pool_name": create.work_pool_name,
            "job_variables": create.job_variables or {},
            "auto_scheduled": False,
            "created_by": None,
            "state_id": None,
            "state_type": None,
            "state_name": None,
            "state_timestamp": None,
            "run_count": 0,
            "total_run_time": 0.0,
            "expected_start_time": None,
            "next_scheduled_start_time": None,
            "start_time": None,
            "end_time": None,
        }
    )


async def read_flow_run(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> orm.FlowRun | None:
    return await session.scalar(
        sa.select(orm.FlowRun).where(
            orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id
        )
    )


_WITH_STATE = sa.select(
    *untyped_columns(FLOW_RUN_TABLE), *untyped_columns(FLOW_RUN_STATE_TABLE)
).select_from(
    FLOW_RUN_TABLE.outerjoin(
        FLOW_RUN_STATE_TABLE,
        sa.and_(
            FLOW_RUN_STATE_TABLE.c.id == FLOW_RUN_TABLE.c.state_id,
            FLOW_RUN_STATE_TABLE.c.workspace_id == FLOW_RUN_TABLE.c.workspace_id,
        ),
    )
)


def _with_state() -> sa.Select[Any]:
    return _WITH_STATE


# Every read of one run (the UI's run page, each poll of a run's state): compiled once and
# run on the SQLite handle, where the ORM's cache key of this 70-column statement alone cost
# more than SQLite's whole answer.
_READ_WITH_STATE = Prepared(
    _WITH_STATE.where(
        FLOW_RUN_TABLE.c.workspace_id == sa.bindparam("workspace_id"),
        FLOW_RUN_TABLE.c.id == sa.bindparam("flow_run_id"),
    )
)


async def read_flow_run_with_state(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> FlowRunWithState | None:
    """The run and its current state row, in one query."""
    params = {"workspace_id": workspace_id, "flow_run_id": flow_run_id}
    return await _READ_WITH_STATE.first(session, params)


async def read_flow_run_by_idempotency_key(
    session: AsyncSession, workspace_id: uuid.UUID, flow_id: uuid.UUID, key: str
) -> FlowRunWithState | None:
    query = _with_state().where(
        orm.FlowRun.workspace_id == workspace_id,
        orm.FlowRun.flow_id == flow_id,
        orm.FlowRun.idempotency_key == key,
    )
    row: FlowRunWithState | None = (await session.execute(query)).first()
    return row


async def read_flow_runs(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: FlowRunSort = FlowRunSort.ID_DESC,
    limit: int | None = None,
    offset: int = 0,
) -> list[FlowRunWithState]:
    """Runs matching ``conditions`` (see ``run_filters``), each with its current state."""
    query = _with_state().where(*conditions).order_by(*SORTS[sort]).limit(limit).offset(offset)
    return list((await session.execute(query)).all())


async def read_flow_runs_selected(
    session: AsyncSession,
    selection: sa.Subquery,
    order_by: Sequence[Any],
    *,
    extra: Sequence[Any] = (),
) -> list[Sequence[Any]]:
    """Like :func:`read_flow_runs` for the runs whose ids ``selection`` (a subquery with an
    ``id`` column) picked, in ``order_by`` (over the selection's columns), each row followed
    by the ``extra`` columns asked for (typed, unlike the run's own). The UI's keyset pages
    sort only ids and keys in the selection, then read the few whole rows: sorting whole
    rows (JSON columns and all) of a large filter costs ten times more on SQLite."""
    query = (
        _with_state()
        .join(selection, selection.c.id == orm.FlowRun.id)
        .add_columns(*extra)
        .order_by(*order_by)
    )
    return list((await session.execute(query)).all())


async def count_flow_runs(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.FlowRun).where(*conditions)
    return await session.scalar(query) or 0


async def update_flow_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flow_run_id: uuid.UUID,
    update: actions.FlowRunUpdate,
) -> bool:
    """Change the fields the update sets. False when there is no such run."""
    values = {
        name: value
        for name, value in update.model_dump(mode="json", exclude_unset=True).items()
        if value is not None or name not in _NOT_NULL_UPDATES
    }
    # An empty update still bumps ``updated``, and tells whether the run exists.
    result = await session.execute(
        sa.update(orm.FlowRun)
        .where(orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id)
        .values(updated=utcnow(), **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def update_flow_run_labels(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID, labels: dict[str, Any]
) -> bool:
    """Merge ``labels`` into the run's labels (new values win). False when there is no run."""
    current = (
        await session.execute(
            sa.select(orm.FlowRun.labels)
            .where(orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id == flow_run_id)
            .with_for_update()
        )
    ).first()
    if current is None:
        return False
    await session.execute(
        sa.update(orm.FlowRun)
        .where(orm.FlowRun.id == flow_run_id)
        .values(labels={**(current[0] or {}), **labels}, updated=utcnow())
    )
    return True


async def delete_flow_run(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_id: uuid.UUID
) -> bool:
    """Delete a run with its states, task runs (by cascade) and logs."""
    return bool(await delete_flow_runs(session, workspace_id, [flow_run_id]))


async def delete_flow_runs(
    session: AsyncSession, workspace_id: uuid.UUID, flow_run_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete these runs (those that exist in the workspace); returns the deleted ids."""
    if not flow_run_ids:
        return []
    deleted = (
        await session.scalars(
            sa.delete(orm.FlowRun)
            .where(orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id.in_(flow_run_ids))
            .returning(orm.FlowRun.id)
        )
    ).all()
    if deleted:
        # Logs reference runs without a foreign key (they may arrive before the run).
        await session.execute(
            sa.delete(orm.Log).where(
                orm.Log.workspace_id == workspace_id, orm.Log.flow_run_id.in_(deleted)
            )
        )
    return list(deleted)


async def read_flow_run_ids(
    session: AsyncSession, conditions: Sequence[Condition], limit: int
) -> list[uuid.UUID]:
    query = sa.select(orm.FlowRun.id).where(*conditions).order_by(orm.FlowRun.id).limit(limit)
    return list((await session.scalars(query)).all())


def flow_run_schema(
    run: orm.FlowRun, state: State | None, now: dt.datetime | None = None
) -> core.FlowRun:
    """The API's view of a run: its columns, its current state and live estimates."""
    now = now or utcnow()
    model = core.FlowRun.model_validate(flow_run_values(run))
    model.state = state
    model.estimated_run_time = estimated_run_time(run, now)
    model.estimated_start_time_delta = estimated_lateness(run, now)
    return model


def flow_run_schema_from_row(row: FlowRunWithState, now: dt.datetime | None = None) -> core.FlowRun:
    """The API's view of a run read with its state (see ``FlowRunWithState``).

    Validated from plain values in one pass, nested state included; the estimates are then
    computed from the validated model.
    """
    values = _RUN_DECODER.decode(row[:_RUN_WIDTH])
    state = row[_RUN_WIDTH:]
    if state[0] is not None:
        state_values = _STATE_DECODER.decode(state)
        if state_values["state_details"] is None:
            state_values["state_details"] = {}
        values["state"] = state_values
    elif values["state_id"] is not None and values["state_type"] is not None:
        # The history row is gone (retention): the run's own columns say where it stands.
        values["state"] = {
            "id": values["state_id"],
            "type": values["state_type"],
            "name": values["state_name"],
            "timestamp": values["state_timestamp"] or values["updated"] or values["created"],
        }
    now = now or utcnow()
    state_type = values["state_type"]
    values["estimated_run_time"] = run_time_estimate(
        state_type, _time(values["state_timestamp"]), values["total_run_time"], now
    )
    values["estimated_start_time_delta"] = lateness_estimate(
        state_type, _time(values["expected_start_time"]), _time(values["start_time"]), now
    )
    return core.FlowRun.model_validate(values)


def _time(value: dt.datetime | str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
