"""Deployments: upsert by flow and name, read, filter, count, update, delete, and the
flow runs made from them (on request; the scheduler makes the scheduled ones).

Work pool linkage goes through ``queries.work_pools.resolve_work_queue`` (a pool named but
missing is NotFound naming it) and ``job_templates.validate_job_variables`` (a job variable
the pool's template refuses is Invalid naming it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import actions
from flowyard.schemas.core import ConcurrencyLimitV2
from flowyard.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFilters,
    DeploymentFlowRunCreate,
    DeploymentSort,
    DeploymentUpdate,
)
from flowyard.schemas.states import StateCreate, StateDetails, StateType
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.orm_deployments import DeploymentSchedule as ScheduleRow
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.queries import schedules as schedule_queries
from flowyard.server.queries.concurrency_limits import decayed_active_slots
from flowyard.server.queries.deployment_limits import read_deployment_limits
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.job_templates import _check_object, validate_job_variables
from flowyard.server.queries.run_filters import deployment_side
from flowyard.server.queries.work_pools import require_work_pool, resolve_work_queue

SORTS: dict[DeploymentSort, list[Any]] = {
    DeploymentSort.CREATED_DESC: [DeploymentRow.created.desc(), DeploymentRow.id],
    DeploymentSort.UPDATED_DESC: [DeploymentRow.updated.desc(), DeploymentRow.id],
    DeploymentSort.NAME_ASC: [DeploymentRow.name.asc(), DeploymentRow.id],
    DeploymentSort.NAME_DESC: [DeploymentRow.name.desc(), DeploymentRow.id],
    DeploymentSort.CONCURRENCY_LIMIT_ASC: [
        DeploymentRow.concurrency_limit.asc().nulls_last(),
        DeploymentRow.name,
        DeploymentRow.id,
    ],
    DeploymentSort.CONCURRENCY_LIMIT_DESC: [
        DeploymentRow.concurrency_limit.desc().nulls_last(),
        DeploymentRow.name,
        DeploymentRow.id,
    ],
}
# A deployment polled (by serve() or a worker) this recently is READY.
READY_SECONDS = 60
# Fields of create/update that are not plain columns.
_NOT_COLUMNS = {"schedules", "version_info", "global_concurrency_limit_id", "flow_id", "name"}
_NOT_NULL = {"parameters", "tags", "labels", "job_variables", "paused", "enforce_parameter_schema"}
# UUID columns among the fields, which a JSON dump turns into strings (a 500 on SQLite).
_ID_COLUMNS = ("storage_document_id", "infrastructure_document_id")


def _ids_as_uuids(values: dict[str, Any], fields: DeploymentCreate | DeploymentUpdate) -> None:
    for key in _ID_COLUMNS:
        if key in values:
            values[key] = getattr(fields, key)


async def _link_work_pool(
    session: AsyncSession, workspace_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Resolve the pool/queue names into the queue id, checking the job variables."""
    pool_name = values.get("work_pool_name")
    if not pool_name:
        values["work_queue_id"] = None
        return
    pool = await require_work_pool(session, workspace_id, pool_name)
    queue = await resolve_work_queue(
        session, workspace_id, pool_name, values.get("work_queue_name")
    )
    validate_job_variables(pool.base_job_template or {}, values.get("job_variables") or {})
    values["work_queue_id"] = queue.id
    values["work_queue_name"] = queue.name


async def upsert_deployment(
    session: AsyncSession, workspace_id: uuid.UUID, create: DeploymentCreate
) -> tuple[DeploymentRow, dict[str, Any] | None]:
    """Create the deployment, or update the flow's deployment of that name with the fields
    given (as the contract's ``POST /deployments/`` does). Returns it, and None when it is
    new or else the column values it had before (:func:`column_values`)."""
    try:
        async with session.begin_nested():
            return await _upsert_deployment(session, workspace_id, create)
    except IntegrityError:
        # PostgreSQL: a concurrent request inserted this deployment between our read and
        # our insert (the unique constraint stopped ours). It is committed now, so a second
        # pass reads it and updates it, as if we had come second.
        return await _upsert_deployment(session, workspace_id, create)


async def _upsert_deployment(
    session: AsyncSession, workspace_id: uuid.UUID, create: DeploymentCreate
) -> tuple[DeploymentRow, dict[str, Any] | None]:
    flow = await session.scalar(
        sa.select(orm.Flow.id).where(
            orm.Flow.workspace_id == workspace_id, orm.Flow.id == create.flow_id
        )
    )
    if flow is None:
        raise NotFound(f"flow_id: no flow {create.flow_id} in this workspace.")
    existing = await session.scalar(
        sa.select(DeploymentRow)
        .where(
            DeploymentRow.workspace_id == workspace_id,
            DeploymentRow.flow_id == create.flow_id,
            DeploymentRow.name == create.name,
        )
        .with_for_update()
    )
    given = create.model_fields_set | {"name", "flow_id"}
    values = {
        key: value
        for key, value in create.model_dump(mode="json").items()
        if key not in _NOT_COLUMNS and (existing is None or key in given)
    }
    _ids_as_uuids(values, create)
    if existing is None or "labels" in given:
        values["labels"] = dict(create.labels or {})
    if existing is not None and "work_pool_name" not in given:
        values["work_pool_name"] = existing.work_pool_name
        values.setdefault("work_queue_name", existing.work_queue_name)
        values.setdefault("job_variables", existing.job_variables)
    await _link_work_pool(session, workspace_id, values)
    if existing is None:
        row = DeploymentRow(
            workspace_id=workspace_id, flow_id=create.flow_id, name=create.name, **values
        )
        session.add(row)
        await session.flush()
        before = None
    else:
        row = existing
        before = column_values(row)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated = utcnow()
    if before is None or "schedules" in create.model_fields_set:
        await schedule_queries.replace_schedules(session, row, create.schedules)
    await session.flush()
    return row, before


def column_values(row: DeploymentRow) -> dict[str, Any]:
    """Every column of the deployment as it is now (what an update event compares)."""
    return {column.key: getattr(row, column.key) for column in DeploymentRow.__table__.columns}


async def read_deployment(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_id: uuid.UUID
) -> DeploymentRow | None:
    return await session.scalar(
        sa.select(DeploymentRow).where(
            DeploymentRow.workspace_id == workspace_id, DeploymentRow.id == deployment_id
        )
    )


async def deployment_exists(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        sa.select(DeploymentRow.id).where(
            DeploymentRow.workspace_id == workspace_id, DeploymentRow.id == deployment_id
        )
    )
    return found is not None


async def read_deployment_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, flow_name: str, name: str
) -> DeploymentRow | None:
    return await session.scalar(
        sa.select(DeploymentRow)
        .join(orm.Flow, orm.Flow.id == DeploymentRow.flow_id)
        .where(
            DeploymentRow.workspace_id == workspace_id,
            orm.Flow.name == flow_name,
            DeploymentRow.name == name,
        )
    )


def deployment_conditions(
    workspace_id: uuid.UUID, body: DeploymentFilters | None, dialect: str
) -> list[Condition]:
    conditions: list[Condition] = [DeploymentRow.workspace_id == workspace_id]
    if body is None:
        return conditions
    return conditions + deployment_side(DeploymentRow, workspace_id, body, dialect)


async def read_deployments(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: DeploymentSort = DeploymentSort.NAME_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> list[DeploymentRow]:
    query = sa.select(DeploymentRow).where(*conditions).order_by(*SORTS[sort])
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


async def count_deployments(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(DeploymentRow).where(*conditions)
    return int(await session.scalar(query) or 0)


async def update_deployment(
    session: AsyncSession, workspace_id: uuid.UUID, row: DeploymentRow, update: DeploymentUpdate
) -> bool:
    """Apply the fields the update sets. True when the schedule-related state changed
    (paused or schedules), so the caller can wake the scheduler."""
    values = {
        key: value
        for key, value in update.model_dump(mode="json", exclude_unset=True).items()
        if key not in _NOT_COLUMNS and (value is not None or key not in _NOT_NULL)
    }
    _ids_as_uuids(values, update)
    if {"work_pool_name", "work_queue_name", "job_variables"} & values.keys():
        linked = {
            "work_pool_name": values.get("work_pool_name", row.work_pool_name),
            "work_queue_name": values.get("work_queue_name", row.work_queue_name),
            "job_variables": values.get("job_variables", row.job_variables),
        }
        if "work_pool_name" in values and "work_queue_name" not in values:
            linked["work_queue_name"] = None  # a new pool: its default queue
        await _link_work_pool(session, workspace_id, linked)
        values.update(linked)
    was_paused = row.paused
    for key, value in values.items():
        setattr(row, key, value)
    row.updated = utcnow()
    changed = "paused" in values and values["paused"] != was_paused
    if update.schedules is not None:
        await schedule_queries.update_schedules(session, row, update.schedules)
        changed = True
    if row.paused and not was_paused:
        await schedule_queries.delete_auto_scheduled_runs(session, workspace_id, row.id)
    await session.flush()
    return changed


async def set_paused(
    session: AsyncSession, workspace_id: uuid.UUID, row: DeploymentRow, paused: bool
) -> None:
    # Locked first, so a scheduler pass in flight finishes before its runs are removed.
    await schedule_queries.lock_deployment(session, row.id)
    row.paused = paused
    row.updated = utcnow()
    if paused:
        await schedule_queries.delete_auto_scheduled_runs(session, workspace_id, row.id)
    await session.flush()


async def delete_deployment(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_id: uuid.UUID
) -> bool:
    """Delete the deployment, its schedules and its runs still waiting to start."""
    # Locked first: a scheduler pass in flight would otherwise leave runs of a deployment
    # that no longer exists.
    await schedule_queries.lock_deployment(session, deployment_id)
    await schedule_queries.delete_scheduled_runs(session, workspace_id, deployment_id)
    result = await session.execute(
        sa.delete(DeploymentRow).where(
            DeploymentRow.workspace_id == workspace_id, DeploymentRow.id == deployment_id
        )
    )
    await session.execute(
        sa.delete(ScheduleRow).where(
            ScheduleRow.workspace_id == workspace_id, ScheduleRow.deployment_id == deployment_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def check_parameters(row: DeploymentRow, parameters: dict[str, Any], enforce: bool | None) -> None:
    """Invalid, naming the first parameter that does not fit the deployment's schema."""
    schema = row.parameter_openapi_schema
    if not (row.enforce_parameter_schema if enforce is None else enforce) or not schema:
        return
    problem = _check_object(parameters, schema, schema)
    if problem is not None:
        raise Invalid(f"parameters.{problem}")


def flow_run_create(row: DeploymentRow, body: DeploymentFlowRunCreate) -> actions.FlowRunCreate:
    """The flow run a request to run the deployment makes: its parameters over the
    deployment's, Scheduled now unless a state is given."""
    parameters = {**(row.parameters or {}), **body.parameters}
    check_parameters(row, parameters, body.enforce_parameter_schema)
    state = body.state or StateCreate(
        type=StateType.SCHEDULED,
        name="Scheduled",
        state_details=StateDetails(scheduled_time=utcnow()),
    )
    return actions.FlowRunCreate(
        flow_id=row.flow_id,
        deployment_id=row.id,
        state=state,
        name=body.name,
        parameters=parameters,
        context=body.context,
        infrastructure_document_id=body.infrastructure_document_id
        or row.infrastructure_document_id,
        empirical_policy=body.empirical_policy,
        tags=sorted({*(row.tags or []), *body.tags}),
        labels={**(row.labels or {}), **(body.labels or {})},
        idempotency_key=body.idempotency_key,
        parent_task_run_id=body.parent_task_run_id,
        work_pool_name=row.work_pool_name,
        # The deployment's own queue is linked by id (:func:`link_run`), not looked up
        # again by name; a queue named in the request is resolved in the pool.
        work_queue_name=body.work_queue_name
        or (None if row.work_queue_id is not None else row.work_queue_name),
        job_variables={**(row.job_variables or {}), **(body.job_variables or {})},
    )


def link_run(run: orm.FlowRun, row: DeploymentRow, queue_name_given: bool) -> None:
    """Copy the deployment's queue and version onto a new run."""
    run.deployment_version = row.version
    if row.work_queue_id is not None and not queue_name_given:
        run.work_queue_id = row.work_queue_id
        run.work_queue_name = row.work_queue_name


def deployment_schema(
    row: DeploymentRow,
    schedules: Sequence[ScheduleRow],
    now: dt.datetime | None = None,
    limit: orm.ConcurrencyLimit | None = None,
) -> Deployment:
    now = now or utcnow()
    model = Deployment.model_validate(row, from_attributes=True)
    model.schedules = [schedule_queries.schedule_schema(s) for s in schedules]
    if limit is not None:
        shown = ConcurrencyLimitV2.from_row(limit)
        shown.active_slots = decayed_active_slots(limit, now)
        model.global_concurrency_limit = shown
    polled = row.last_polled
    fresh = polled is not None and (now - polled).total_seconds() < READY_SECONDS
    model.status = "READY" if fresh and not row.paused else "NOT_READY"
    return model


async def deployment_schemas(
    session: AsyncSession, rows: Sequence[DeploymentRow]
) -> list[Deployment]:
    """Response models of several deployments, their schedules read in one query."""
    by_deployment = await schedule_queries.read_schedules_of(session, [r.id for r in rows])
    limited = [r.id for r in rows if r.concurrency_limit is not None]
    limits = (
        await read_deployment_limits(session, rows[0].workspace_id, limited) if limited else {}
    )
    now = utcnow()
    return [
        deployment_schema(r, by_deployment.get(r.id, []), now, limits.get(r.id)) for r in rows
    ]


# serve() polls several times a second: record a poll at most this often (a write each
# time would cost more than the poll).
POLL_RECORD_SECONDS = 10


async def stale_polls(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Which of these deployments have no poll recorded in the last POLL_RECORD_SECONDS."""
    if not deployment_ids:
        return []
    since = utcnow() - dt.timedelta(seconds=POLL_RECORD_SECONDS)
    query = sa.select(DeploymentRow.id).where(
        DeploymentRow.workspace_id == workspace_id,
        DeploymentRow.id.in_(deployment_ids),
        sa.or_(DeploymentRow.last_polled.is_(None), DeploymentRow.last_polled < since),
    )
    return list((await session.scalars(query)).all())


async def mark_polled(
    session: AsyncSession, workspace_id: uuid.UUID, deployment_ids: Sequence[uuid.UUID]
) -> None:
    if deployment_ids:
        await session.execute(
            sa.update(DeploymentRow)
            .where(DeploymentRow.workspace_id == workspace_id, DeploymentRow.id.in_(deployment_ids))
            .values(last_polled=utcnow(), status="READY")
        )


async def mark_queues_polled(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    queue_ids: Sequence[uuid.UUID],
    now: dt.datetime,
) -> None:
    """A worker polled these queues now: their deployments are READY, as on the official
    server. Only polls older than POLL_RECORD_SECONDS are rewritten (workers poll often);
    ``updated`` stays as it was (a poll is not a change of the deployment)."""
    if not queue_ids:
        return
    since = now - dt.timedelta(seconds=POLL_RECORD_SECONDS)
    await session.execute(
        sa.update(DeploymentRow)
        .where(
            DeploymentRow.workspace_id == workspace_id,
            DeploymentRow.work_queue_id.in_(list(queue_ids)),
            sa.or_(DeploymentRow.last_polled.is_(None), DeploymentRow.last_polled < since),
        )
        .values(last_polled=now, status="READY", updated=DeploymentRow.updated)
        .execution_options(synchronize_session=False)
    )
