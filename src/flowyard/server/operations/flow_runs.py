"""Flow runs: the one path that creates a run, and every read and change of one.

:func:`insert_flow_run` is the only code that creates a flow run one at a time: the API's
``POST /flow_runs/``, a deployment's ``create_flow_run`` (single and bulk) and automations
all end here, so idempotency keys, queue links, job-variable checks and the first state's
orchestration (and its event) hold for each of them. Scheduled runs are created in bulk by
``orchestration.scheduled_runs``, under the same rules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError

from flowyard.schemas import actions, core
from flowyard.schemas.filters import FlowRunFilter, RunFilters
from flowyard.schemas.flow_run_control import FlowRunLeaseRequest
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import OrchestrationResult, StateCreate
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment as DeploymentRow
from flowyard.server.database.types import utcnow
from flowyard.server.errors import NotFound
from flowyard.server.operations import references
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.flow_run_control import follow_run_lease
from flowyard.server.orchestration import transitions
from flowyard.server.orchestration.queued_runs import prepare_queued_run
from flowyard.server.queries import deployments as deployment_queries
from flowyard.server.queries import flow_runs as queries
from flowyard.server.queries import history
from flowyard.server.queries.run_filters import flow_run_conditions
from flowyard.server.queries.work_pools import read_work_queue

READ = permission("read", "flow_run")
CREATE = permission("create", "flow_run")
UPDATE = permission("update", "flow_run")
DELETE = permission("delete", "flow_run")
NOT_FOUND = "Flow run not found."


async def insert_flow_run(
    tx: Tx, create: actions.FlowRunCreate, deployment: DeploymentRow | None = None
) -> tuple[core.FlowRun, bool]:
    """Create a run, or find the one already holding its idempotency key.

    Returns the run and whether it is new. ``deployment``: the run is the deployment's
    (its version, and its queue unless the request named one). Not an operation itself:
    each caller's operation has checked its own permission (running a deployment needs
    ``run:deployment``, not ``create:flow_run``).
    """
    # A run may only name a deployment of its own workspace: the run's pages, blockers and
    # worker would otherwise read another workspace's deployment through it.
    named = create.deployment_id
    if (
        named is not None
        and deployment is None
        and not await deployment_queries.deployment_exists(tx.session, tx.workspace_id, named)
    ):
        raise NotFound(f"deployment_id: no deployment {named} in this workspace.")
    if create.parent_task_run_id is not None:
        parent = {"parent_task_run_id": [create.parent_task_run_id]}
        await references.refuse_foreign_runs(tx, task_run_ids=parent)
    await references.require_block_document(
        tx, "infrastructure_document_id", create.infrastructure_document_id
    )
    key = create.idempotency_key
    if key is not None:
        existing = await queries.read_flow_run_by_idempotency_key(
            tx.session, tx.workspace_id, create.flow_id, key
        )
        if existing is not None:
            return queries.flow_run_schema_from_row(existing), False
    if key is None or tx.ctx.db.is_sqlite:
        # Writes are serialised on SQLite: nobody can take the key between read and insert.
        return await _insert(tx, create, deployment), True
    try:
        async with tx.session.begin_nested():
            return await _insert(tx, create, deployment), True
    except IntegrityError:
        # A concurrent request created a run with this key first: answer with that one.
        existing = await queries.read_flow_run_by_idempotency_key(
            tx.session, tx.workspace_id, create.flow_id, key
        )
        if existing is None:
            raise
        return queries.flow_run_schema_from_row(existing), False


async def _insert(
    tx: Tx, create: actions.FlowRunCreate, deployment: DeploymentRow | None
) -> core.FlowRun:
    run = await queries.create_flow_run(tx.session, tx.workspace_id, create)
    if run is None:
        if deployment is not None:
            raise NotFound(f"The flow of deployment {deployment.name!r} no longer exists.")
        raise NotFound(f"flow_id: no flow {create.flow_id} in this workspace.")
    if deployment is not None:
        deployment_queries.link_run(run, deployment, create.work_queue_name is not None)
    await prepare_queued_run(tx.session, tx.workspace_id, run)  # link to its queue, wake workers
    if run.work_queue_id is not None and run.work_pool_id is None:
        queue = await read_work_queue(tx.session, tx.workspace_id, run.work_queue_id)
        run.work_pool_id = queue.work_pool_id if queue is not None else None
    state = await transitions.insert_new_flow_run(tx.session, run, create.state)
    return queries.flow_run_schema(run, state)


@operation(CREATE, writes=True)
async def create_flow_run(tx: Tx, create: actions.FlowRunCreate) -> tuple[core.FlowRun, bool]:
    """``POST /flow_runs/``: the new run and True, or the key's existing run and False."""
    return await insert_flow_run(tx, create)


@operation(UPDATE, writes=True)
async def set_flow_run_state(
    tx: Tx,
    flow_run_id: uuid.UUID,
    state: StateCreate,
    force: bool = False,
    lease: FlowRunLeaseRequest | None = None,
) -> OrchestrationResult:
    """Propose a state; the policy decides (``force`` keeps only the data-loss guard). The
    run's lease follows the outcome: taken with an accepted Running that declares one,
    dropped with a final state (see ``flow_run_control.follow_run_lease``)."""
    result = await transitions.set_flow_run_state(
        tx.session, tx.workspace_id, flow_run_id, state, force=force
    )
    if result is None:
        raise NotFound(NOT_FOUND)
    await follow_run_lease(tx, flow_run_id, result, lease)
    return result


@operation(UPDATE, writes=True)
async def bulk_set_flow_run_state(
    tx: Tx, flow_run_ids: Sequence[uuid.UUID], state: StateCreate, force: bool = False
) -> list[tuple[uuid.UUID, OrchestrationResult | None]]:
    """Propose one state for several runs, each through the policy; None for a run that is
    not in this workspace. One transaction: the outcome of each is its own."""
    results: list[tuple[uuid.UUID, OrchestrationResult | None]] = []
    for run_id in flow_run_ids:
        result = await transitions.set_flow_run_state(
            tx.session, tx.workspace_id, run_id, state, force=force
        )
        results.append((run_id, result))
    return results


@operation(READ)
async def read_flow_run(tx: Tx, flow_run_id: uuid.UUID) -> core.FlowRun:
    row = await queries.read_flow_run_with_state(tx.session, tx.workspace_id, flow_run_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return queries.flow_run_schema_from_row(row)


@operation(READ)
async def read_flow_runs(
    tx: Tx, filters: RunFilters, sort: FlowRunSort | None, limit: int, offset: int = 0
) -> list[core.FlowRun]:
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    rows = await queries.read_flow_runs(
        tx.session, conditions, sort or FlowRunSort.ID_DESC, limit, offset
    )
    now = utcnow()
    return [queries.flow_run_schema_from_row(row, now) for row in rows]


@operation(READ)
async def count_flow_runs(tx: Tx, filters: RunFilters) -> int:
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    return await queries.count_flow_runs(tx.session, conditions)


@operation(READ)
async def paginate_flow_runs(
    tx: Tx, filters: RunFilters, sort: FlowRunSort | None, limit: int, page: int
) -> tuple[list[core.FlowRun], int]:
    """One page of runs and the count of all that match, from one snapshot."""
    count = await count_flow_runs(tx, filters)
    return await read_flow_runs(tx, filters, sort, limit, (page - 1) * limit), count


@operation(READ)
async def flow_run_history(
    tx: Tx, filters: RunFilters, start: dt.datetime, end: dt.datetime, interval: float
) -> list[core.HistoryInterval]:
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    return await history.read_run_history(
        tx.session, orm.FlowRun, conditions, start, end, interval, tx.dialect
    )


@operation(READ)
async def average_flow_run_lateness(tx: Tx, filters: RunFilters) -> float | None:
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    return await history.average_lateness(tx.session, orm.FlowRun, conditions, tx.dialect)


@operation(UPDATE, writes=True)
async def update_flow_run(tx: Tx, flow_run_id: uuid.UUID, update: actions.FlowRunUpdate) -> None:
    if not await queries.update_flow_run(tx.session, tx.workspace_id, flow_run_id, update):
        raise NotFound(NOT_FOUND)


@operation(UPDATE, writes=True)
async def update_flow_run_labels(
    tx: Tx, flow_run_id: uuid.UUID, labels: dict[str, bool | int | float | str]
) -> None:
    if not await queries.update_flow_run_labels(tx.session, tx.workspace_id, flow_run_id, labels):
        raise NotFound(NOT_FOUND)


@operation(DELETE, writes=True)
async def delete_flow_run(tx: Tx, flow_run_id: uuid.UUID) -> None:
    if not await queries.delete_flow_run(tx.session, tx.workspace_id, flow_run_id):
        raise NotFound(NOT_FOUND)


@operation(DELETE, writes=True)
async def bulk_delete_flow_runs(
    tx: Tx, flow_runs: FlowRunFilter | None, limit: int
) -> list[uuid.UUID]:
    conditions = flow_run_conditions(tx.workspace_id, RunFilters(flow_runs=flow_runs), tx.dialect)
    ids = await queries.read_flow_run_ids(tx.session, conditions, limit)
    return await queries.delete_flow_runs(tx.session, tx.workspace_id, ids)
