"""The side-by-side filters (flows, flow_runs, task_runs, deployments, work pools and
queues) compiled into the WHERE clause of one statement on flow runs, task runs or
deployments.

Filters on another resource become ``IN``/``EXISTS`` subqueries, never a second query.
Every subquery uses its own alias: SQLAlchemy would otherwise correlate an inner
``task_run`` or ``flow_run`` with the outer query's table of the same name and silently
change what the filter means. Work pools and queues are matched on the run's own
denormalised columns (``work_pool_id``/``_name``, ``work_queue_id``/``_name``), a pool's
``type`` through the pool table.

Each resource filter means the same wherever it appears: the flows filter, the deployments
filter and the work-pools filter are compiled here by one function each, for every query
that accepts them (``/flow_runs``, ``/task_runs``, ``/flows``, ``/deployments``).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from flowyard.schemas import filters
from flowyard.schemas.deployments import DeploymentFilters
from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.database.orm_work_pools import WorkPool
from flowyard.server.queries.filtering import (
    Condition,
    compile_filter,
    field_conditions,
    flow_run_tag_conditions,
    like_condition,
)

FlowRunEntity = Any  # orm.FlowRun or an alias of it
TaskRunEntity = Any  # orm.TaskRun or an alias of it


class _Unknown(SimpleNamespace):
    """Columns of a resource this database does not keep: every attribute is SQL NULL, so
    a name filter on it matches nothing and an exclusion matches everything."""

    def __getattr__(self, name: str) -> Any:
        return sa.cast(sa.null(), sa.String)


def flow_run_conditions(
    workspace_id: uuid.UUID, run_filters: filters.RunFilters | None, dialect: str
) -> list[Condition]:
    """The WHERE conditions of a flow-run query with these filters."""
    conditions: list[Condition] = [orm.FlowRun.workspace_id == workspace_id]
    if run_filters is not None:
        conditions += flow_run_side(orm.FlowRun, workspace_id, run_filters, dialect)
        task = aliased(orm.TaskRun)
        task_conditions = task_run_filter(run_filters.task_runs, task, dialect)
        # As in the contract, a task-runs filter given (even empty) keeps the flow runs
        # that have such a task run.
        if run_filters.task_runs is not None:
            conditions.append(
                sa.exists(
                    sa.select(1).where(
                        task.flow_run_id == orm.FlowRun.id,
                        task.workspace_id == workspace_id,
                        *task_conditions,
                    )
                )
            )
    return conditions


def task_run_conditions(
    workspace_id: uuid.UUID, run_filters: filters.RunFilters | None, dialect: str
) -> list[Condition]:
    """The WHERE conditions of a task-run query with these filters."""
    conditions: list[Condition] = [orm.TaskRun.workspace_id == workspace_id]
    if run_filters is None:
        return conditions
    conditions += task_run_filter(run_filters.task_runs, orm.TaskRun, dialect)
    run = aliased(orm.FlowRun)
    run_conditions = flow_run_side(run, workspace_id, run_filters, dialect)
    # A filter on the flow-run side given (even empty) keeps the task runs of a flow run.
    run_side = ("flows", "flow_runs", "deployments", "work_pools", "work_pool_queues")
    if run_conditions or any(getattr(run_filters, name) is not None for name in run_side):
        conditions.append(
            orm.TaskRun.flow_run_id.in_(
                sa.select(run.id).where(run.workspace_id == workspace_id, *run_conditions)
            )
        )
    return conditions


def flow_run_side(
    run: FlowRunEntity, workspace_id: uuid.UUID, run_filters: filters.RunFilters, dialect: str
) -> list[Condition]:
    """Conditions on a flow run from every filter but ``task_runs``. As in the contract, a
    deployments, work-pools or work-queues filter given, even empty, keeps only the runs
    that have a deployment, a pool or a queue."""
    special = {
        "parent_flow_run_id": lambda flt: _parent_flow_run(run, workspace_id, flt),
        "created_by": lambda flt: _created_by(run, flt),
        "tags": lambda flt: flow_run_tag_conditions(run, flt, dialect),
    }
    conditions = compile_filter(run_filters.flow_runs, run, dialect, special=special)
    conditions += _flows(run.flow_id, workspace_id, run_filters.flows, dialect)
    conditions += _deployments(run, workspace_id, run_filters.deployments, dialect)
    if run_filters.work_pools is not None:
        pools = SimpleNamespace(id=run.work_pool_id, name=run.work_pool_name)
        conditions.append(run.work_pool_id.is_not(None))
        conditions += compile_filter(
            run_filters.work_pools,
            pools,
            dialect,
            special={"type": lambda flt: _pool_type(run.work_pool_id, workspace_id, flt)},
        )
    queue_filter = run_filters.work_pool_queues or run_filters.work_queues
    if queue_filter is not None:
        queues = SimpleNamespace(id=run.work_queue_id, name=run.work_queue_name)
        conditions.append(run.work_queue_id.is_not(None))
        conditions += compile_filter(queue_filter, queues, dialect)
    return conditions


def task_run_filter(
    task_filter: filters.TaskRunFilter | None, task: TaskRunEntity, dialect: str
) -> list[Condition]:
    """Conditions of a ``task_runs`` filter on ``task`` (the table or an alias)."""

    def has_subflow(flt: filters.ExistsFilter) -> list[Condition]:
        if flt.exists_ is None:
            return []
        child = aliased(orm.FlowRun)
        exists = sa.exists(sa.select(1).where(child.parent_task_run_id == task.id))
        return [exists if flt.exists_ else sa.not_(exists)]

    return compile_filter(task_filter, task, dialect, special={"subflow_runs": has_subflow})


def _parent_flow_run(
    run: FlowRunEntity, workspace_id: uuid.UUID, flt: filters.IdFilter
) -> list[Condition]:
    # A subflow points at a task run of its parent; the parent is that task run's flow run.
    task = aliased(orm.TaskRun)
    parent_conditions = field_conditions(task.flow_run_id, flt)
    if not parent_conditions:
        return []
    return [
        run.parent_task_run_id.in_(
            sa.select(task.id).where(task.workspace_id == workspace_id, *parent_conditions)
        )
    ]


def _created_by(run: FlowRunEntity, flt: filters.CreatedByFilter) -> list[Condition]:
    out: list[Condition] = []
    if flt.id_ is not None:
        out.append(run.created_by["id"].as_string().in_([str(i) for i in flt.id_]))
    if flt.type_ is not None:
        out.append(run.created_by["type"].as_string().in_(flt.type_))
    if flt.is_null_ is not None:
        # Read through the keys: SQLite may hold a JSON 'null' where PostgreSQL has NULL.
        absent = sa.and_(
            run.created_by["id"].as_string().is_(None),
            run.created_by["type"].as_string().is_(None),
        )
        out.append(absent if flt.is_null_ else sa.not_(absent))
    if len(out) > 1 and flt.operator == filters.Operator.or_:
        return [sa.or_(*out)]
    return out


def _deployments(
    run: FlowRunEntity,
    workspace_id: uuid.UUID,
    flt: filters.DeploymentFilter | None,
    dialect: str,
) -> list[Condition]:
    if flt is None:
        return []
    deployment = aliased(Deployment)
    conditions = deployment_filter(flt, deployment, workspace_id, dialect)
    return [
        run.deployment_id.in_(
            sa.select(deployment.id).where(deployment.workspace_id == workspace_id, *conditions)
        )
    ]


def _flows(
    flow_id: Any, workspace_id: uuid.UUID, flt: filters.FlowFilter | None, dialect: str
) -> list[Condition]:
    flow = aliased(orm.Flow)
    conditions = flow_filter(flt, flow, workspace_id, dialect)
    if not conditions:
        return []
    return [flow_id.in_(sa.select(flow.id).where(flow.workspace_id == workspace_id, *conditions))]


def _pool_type(
    pool_id: Any, workspace_id: uuid.UUID, flt: filters.WorkPoolTypeFilter
) -> list[Condition]:
    if flt.any_ is None:
        return []
    pool = aliased(WorkPool)
    pools = sa.select(pool.id).where(pool.workspace_id == workspace_id, pool.type.in_(flt.any_))
    return [pool_id.in_(pools)]


def flow_filter(
    flt: filters.FlowFilter | None, flow: Any, workspace_id: uuid.UUID, dialect: str
) -> list[Condition]:
    """Conditions of a ``flows`` filter on ``flow`` (the table or an alias)."""

    def has_deployment(deployment_filter: filters.FlowDeploymentFilter) -> list[Condition]:
        if deployment_filter.is_null_ is None:
            return []
        deployment = aliased(Deployment)
        exists = sa.exists(
            sa.select(1).where(
                deployment.workspace_id == workspace_id, deployment.flow_id == flow.id
            )
        )
        return [sa.not_(exists) if deployment_filter.is_null_ else exists]

    return compile_filter(flt, flow, dialect, special={"deployment": has_deployment})


def deployment_filter(
    flt: filters.DeploymentFilter | None, deployment: Any, workspace_id: uuid.UUID, dialect: str
) -> list[Condition]:
    """Conditions of a ``deployments`` filter on ``deployment`` (the table or an alias)."""

    def either_name(name_filter: filters.DeploymentOrFlowNameFilter) -> list[Condition]:
        if not name_filter.like_:
            return []
        flow = aliased(orm.Flow)
        flows = sa.select(flow.id).where(
            flow.workspace_id == workspace_id, like_condition(flow.name, name_filter.like_)
        )
        named = like_condition(deployment.name, name_filter.like_)
        return [sa.or_(named, deployment.flow_id.in_(flows))]

    special = {
        "flow_or_deployment_name": either_name,
        # Deprecated in the contract, which ignores it for backwards compatibility.
        "concurrency_limit": lambda flt: [],
    }
    return compile_filter(flt, deployment, dialect, special=special)


def deployment_side(
    deployment: Any,
    workspace_id: uuid.UUID,
    body: filters.RunFilters | DeploymentFilters,
    dialect: str,
) -> list[Condition]:
    """Conditions on ``deployment`` from the side-by-side filters of ``/deployments/filter``:
    its own filter, its flow's, its work pool's and queue's, and those of its runs (a
    deployment matches when one of its runs does)."""
    conditions = deployment_filter(body.deployments, deployment, workspace_id, dialect)
    conditions += _flows(deployment.flow_id, workspace_id, body.flows, dialect)
    if body.work_pools is not None:
        pool = aliased(WorkPool)
        pool_conditions = compile_filter(body.work_pools, pool, dialect)
        pools = sa.select(pool.name).where(pool.workspace_id == workspace_id, *pool_conditions)
        conditions.append(deployment.work_pool_name.in_(pools))
    queue_filter = body.work_pool_queues or getattr(body, "work_queues", None)
    if queue_filter is not None:
        queues = SimpleNamespace(id=deployment.work_queue_id, name=deployment.work_queue_name)
        conditions.append(deployment.work_queue_id.is_not(None))
        conditions += compile_filter(queue_filter, queues, dialect)
    if body.flow_runs is not None or body.task_runs is not None:
        run_filters = filters.RunFilters(flow_runs=body.flow_runs, task_runs=body.task_runs)
        runs = flow_run_conditions(workspace_id, run_filters, dialect)
        if len(runs) > 1:  # more than the workspace condition
            conditions.append(
                deployment.id.in_(sa.select(orm.FlowRun.deployment_id).where(*runs))
            )
    return conditions
