"""Deployments: upsert, read, filter, count, paginate, update, pause/resume, delete, the
flow runs made from them, and the scheduled runs ``serve()`` polls for.

Creating, changing or resuming a deployment makes its scheduled runs in the same
transaction (``orchestration.scheduled_runs``; the scheduler service keeps them topped up
afterwards). Every create, update and delete stores ``prefect.deployment.created|updated|
deleted`` with it, with the related resources the official server names (flow, work queue,
work pool, storage and infrastructure blocks); an update event lists the fields that
really changed, with their old and new values, and a change that changes nothing emits
none, as there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic_core import to_jsonable_python

from flowyard.schemas import core
from flowyard.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFilters,
    DeploymentFlowRunCreate,
    DeploymentSort,
    DeploymentUpdate,
)
from flowyard.schemas.filters import (
    DeploymentFilter,
    FlowRunFilter,
    OptionalIdFilter,
    RunFilters,
    StateFilter,
    StateTypeFilter,
    TimeFilter,
)
from flowyard.schemas.responses import FlowRunCreateResult
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import StateType
from flowyard.schemas.work_pools import WorkQueue
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.types import utcnow
from flowyard.server.errors import DomainError, NotFound
from flowyard.server.operations import references
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.flow_runs import insert_flow_run
from flowyard.server.operations.lifecycle import Action, emit_lifecycle
from flowyard.server.operations.work_pool_events import changes, pool_as_related
from flowyard.server.operations.work_queues import queue_schemas
from flowyard.server.orchestration import scheduled_runs
from flowyard.server.orchestration.instrumentation import ID, ROLE, related
from flowyard.server.queries import deployment_limits
from flowyard.server.queries import deployments as queries
from flowyard.server.queries import flow_runs as run_queries
from flowyard.server.queries import flows as flow_queries
from flowyard.server.queries import work_pools as pool_queries
from flowyard.server.queries.run_filters import flow_run_conditions

READ = permission("read", "deployment")
CREATE = permission("create", "deployment")
UPDATE = permission("update", "deployment")
DELETE = permission("delete", "deployment")
RUN = permission("run", "deployment")
NOT_FOUND = "Deployment not found."

# The fields whose change is a ``prefect.deployment.updated`` (the official server's list,
# in our column names: its ``infra_overrides`` is ``job_variables`` here).
EVENT_FIELDS = (
    "description", "tags", "parameters", "parameter_openapi_schema",
    "enforce_parameter_schema", "entrypoint", "path", "pull_steps", "work_queue_id",
    "job_variables", "paused", "labels", "version", "concurrency_limit",
    "concurrency_options",
)  # fmt: skip


async def _row(tx: Tx, deployment_id: uuid.UUID) -> DeploymentRow:
    row = await queries.read_deployment(tx.session, tx.workspace_id, deployment_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row


async def _schema(tx: Tx, row: DeploymentRow) -> Deployment:
    return (await queries.deployment_schemas(tx.session, [row]))[0]


async def _related(tx: Tx, row: DeploymentRow) -> list[dict[str, str]]:
    """The related resources of a deployment's events, as the official server lists them."""
    flow = await flow_queries.read_flow(tx.session, tx.workspace_id, row.flow_id)
    found = [related("flow", row.flow_id, flow.name if flow is not None else None)]
    if row.work_queue_id is not None:
        found.append(related("work-queue", row.work_queue_id, row.work_queue_name))
    if row.work_pool_name:
        pool = await pool_queries.read_work_pool_by_name(
            tx.session, tx.workspace_id, row.work_pool_name
        )
        if pool is not None:
            found.append(pool_as_related(pool))
    for document_id, role in (
        (row.storage_document_id, "storage"),
        (row.infrastructure_document_id, "infrastructure"),
    ):
        if document_id is not None:
            found.append({ID: f"prefect.block-document.{document_id}", ROLE: role})
    return found


async def _emit(
    tx: Tx, action: Action, row: DeploymentRow, before: dict[str, Any] | None = None
) -> None:
    payload: dict[str, Any] = {}
    changed: list[str] = []
    if before is not None:
        updates = changes(before, row, EVENT_FIELDS)
        if not updates:
            return  # nothing the event would name changed
        changed = sorted(updates)
        payload["updates"] = to_jsonable_python(updates)
    related_resources = await _related(tx, row)
    emit_lifecycle(
        tx, "deployment", action, row.id, row.name,
        related=related_resources, changed=changed, payload=payload,
    )  # fmt: skip


# --- create, read, update, delete -----------------------------------------------------------


async def _require_references(tx: Tx, fields: DeploymentCreate | DeploymentUpdate) -> None:
    """The block documents and the limit a deployment names are this workspace's."""
    await references.require_block_document(
        tx, "storage_document_id", fields.storage_document_id
    )
    await references.require_block_document(
        tx, "infrastructure_document_id", fields.infrastructure_document_id
    )
    await references.require_concurrency_limit(
        tx, "global_concurrency_limit_id", fields.global_concurrency_limit_id
    )


@operation(CREATE, writes=True)
async def create_deployment(tx: Tx, create: DeploymentCreate) -> tuple[Deployment, bool]:
    """``POST /deployments/``: the deployment and True, or the flow's deployment of that
    name, updated with the fields given, and False."""
    await _require_references(tx, create)
    row, before = await queries.upsert_deployment(tx.session, tx.workspace_id, create)
    await deployment_limits.sync_deployment_limit(tx.session, row, utcnow())
    await scheduled_runs.schedule_deployment(tx.session, row)
    await _emit(tx, "created" if before is None else "updated", row, before)
    return await _schema(tx, row), before is None


@operation(READ)
async def read_deployment(tx: Tx, deployment_id: uuid.UUID) -> Deployment:
    return await _schema(tx, await _row(tx, deployment_id))


@operation(READ)
async def read_deployment_by_name(tx: Tx, flow_name: str, name: str) -> Deployment:
    row = await queries.read_deployment_by_name(tx.session, tx.workspace_id, flow_name, name)
    if row is None:
        raise NotFound(NOT_FOUND)
    return await _schema(tx, row)


@operation(READ)
async def read_deployments(
    tx: Tx, filters: DeploymentFilters, sort: DeploymentSort, limit: int, offset: int = 0
) -> list[Deployment]:
    conditions = queries.deployment_conditions(tx.workspace_id, filters, tx.dialect)
    rows = await queries.read_deployments(tx.session, conditions, sort, limit, offset)
    return await queries.deployment_schemas(tx.session, rows)


@operation(READ)
async def count_deployments(tx: Tx, filters: DeploymentFilters) -> int:
    conditions = queries.deployment_conditions(tx.workspace_id, filters, tx.dialect)
    return await queries.count_deployments(tx.session, conditions)


@operation(READ)
async def paginate_deployments(
    tx: Tx, filters: DeploymentFilters, sort: DeploymentSort, limit: int, page: int
) -> tuple[list[Deployment], int]:
    """One page of deployments and the count of all that match, from one snapshot."""
    count = await count_deployments(tx, filters)
    return await read_deployments(tx, filters, sort, limit, (page - 1) * limit), count


@operation(UPDATE, writes=True)
async def update_deployment(tx: Tx, deployment_id: uuid.UUID, update: DeploymentUpdate) -> None:
    row = await _row(tx, deployment_id)
    await _require_references(tx, update)
    before = queries.column_values(row)
    if await queries.update_deployment(tx.session, tx.workspace_id, row, update):
        await scheduled_runs.schedule_deployment(tx.session, row)
    await deployment_limits.sync_deployment_limit(tx.session, row, utcnow())
    await _emit(tx, "updated", row, before)


@operation(UPDATE, writes=True)
async def pause_deployment(tx: Tx, deployment_id: uuid.UUID) -> None:
    """Paused: its runs the scheduler made and that still wait are removed."""
    await _set_paused(tx, await _row(tx, deployment_id), True)


@operation(UPDATE, writes=True)
async def resume_deployment(tx: Tx, deployment_id: uuid.UUID) -> None:
    """Resumed: its scheduled runs are made again at once."""
    row = await _row(tx, deployment_id)
    await _set_paused(tx, row, False)
    await scheduled_runs.schedule_deployment(tx.session, row)


async def _set_paused(tx: Tx, row: DeploymentRow, paused: bool) -> None:
    before = queries.column_values(row)
    await queries.set_paused(tx.session, tx.workspace_id, row, paused)
    await _emit(tx, "updated", row, before)


@operation(UPDATE, writes=True)
async def schedule_deployment(tx: Tx, deployment_id: uuid.UUID) -> int:
    """``POST /deployments/{id}/schedule``: make its missing scheduled runs now."""
    return await scheduled_runs.schedule_deployment(tx.session, await _row(tx, deployment_id))


@operation(DELETE, writes=True)
async def delete_deployment(tx: Tx, deployment_id: uuid.UUID) -> None:
    """Delete it with its schedules and its runs still waiting to start."""
    await _delete(tx, await _row(tx, deployment_id))


async def _delete(tx: Tx, row: DeploymentRow) -> None:
    related_resources = await _related(tx, row)  # read before the rows it names may go
    await deployment_limits.delete_deployment_limit(tx.session, row, utcnow())
    await queries.delete_deployment(tx.session, tx.workspace_id, row.id)
    emit_lifecycle(tx, "deployment", "deleted", row.id, row.name, related=related_resources)


@operation(DELETE, writes=True)
async def bulk_delete_deployments(
    tx: Tx, deployments: DeploymentFilter | None, limit: int
) -> list[uuid.UUID]:
    conditions = queries.deployment_conditions(
        tx.workspace_id, DeploymentFilters(deployments=deployments), tx.dialect
    )
    rows = await queries.read_deployments(tx.session, conditions, limit=limit)
    for row in rows:
        await _delete(tx, row)
    return [row.id for row in rows]


# --- runs --------------------------------------------------------------------------------


@operation(RUN, writes=True)
async def create_flow_run(
    tx: Tx, deployment_id: uuid.UUID, body: DeploymentFlowRunCreate
) -> tuple[core.FlowRun, bool]:
    """A run of the deployment (its parameters under the request's, Scheduled now unless a
    state is given) and True; or the run already holding the idempotency key and False."""
    row = await _row(tx, deployment_id)
    return await insert_flow_run(tx, queries.flow_run_create(row, body), deployment=row)


@operation(RUN, writes=True)
async def create_flow_runs(
    tx: Tx, deployment_id: uuid.UUID, bodies: Sequence[DeploymentFlowRunCreate]
) -> list[FlowRunCreateResult]:
    """Several runs of the deployment in one transaction, each with its own outcome: a run
    refused (its parameters, its job variables, ...) is reported FAILED with the reason and
    leaves nothing behind, while the others are created."""
    row = await _row(tx, deployment_id)
    results: list[FlowRunCreateResult] = []
    for body in bodies:
        try:
            # A savepoint each: a refused run takes back what it wrote (and its events).
            async with tx.session.begin_nested():
                run, _ = await insert_flow_run(
                    tx, queries.flow_run_create(row, body), deployment=row
                )
        except DomainError as exc:
            results.append(FlowRunCreateResult(status="FAILED", error=exc.message))
            continue
        results.append(FlowRunCreateResult(flow_run_id=run.id, status="CREATED"))
    return results


@operation(READ)
async def get_scheduled_flow_runs(
    tx: Tx, deployment_ids: Sequence[uuid.UUID], scheduled_before: dt.datetime | None, limit: int
) -> list[core.FlowRun]:
    """Due Scheduled runs of these deployments, soonest first (what ``serve()`` polls);
    the poll is recorded on the deployments (their READY status)."""
    flt = FlowRunFilter(
        deployment_id=OptionalIdFilter(any_=list(deployment_ids)),
        state=StateFilter(type=StateTypeFilter(any_=[StateType.SCHEDULED])),
        next_scheduled_start_time=TimeFilter(before_=scheduled_before or utcnow()),
    )
    conditions = flow_run_conditions(tx.workspace_id, RunFilters(flow_runs=flt), tx.dialect)
    rows = await run_queries.read_flow_runs(
        tx.session, conditions, FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC, limit
    )
    stale = await queries.stale_polls(tx.session, tx.workspace_id, deployment_ids)
    if stale:
        # In its own short write transaction, unless the caller's is one already.
        await record_deployment_polls(tx if tx.writable else tx.ctx, stale)
    now = utcnow()
    return [run_queries.flow_run_schema_from_row(row, now) for row in rows]


@operation(READ, writes=True)
async def record_deployment_polls(tx: Tx, deployment_ids: Sequence[uuid.UUID]) -> None:
    """The deployments were polled for runs now (what makes them READY)."""
    await queries.mark_polled(tx.session, tx.workspace_id, deployment_ids)


@operation(READ)
async def work_queue_check(tx: Tx, deployment_id: uuid.UUID) -> list[WorkQueue]:
    """``GET /deployments/{id}/work_queue_check`` (deprecated in the contract): the queues
    whose legacy tag filter would pick the deployment's runs up. As on the official server,
    only queues with such a filter are considered: a queue of a work pool takes the runs
    sent to it, whatever their tags, and is not listed."""
    row = await _row(tx, deployment_id)
    tags = set(row.tags or ())
    matching = []
    for queue in await pool_queries.read_filtered_work_queues(tx.session, tx.workspace_id):
        wanted = queue.filter
        if wanted is None:
            continue
        wanted_tags = wanted.get("tags") or []
        wanted_ids = [str(i) for i in wanted.get("deployment_ids") or []]
        if set(wanted_tags) <= tags and (not wanted_ids or str(row.id) in wanted_ids):
            matching.append(queue)
    return await queue_schemas(tx, matching)
