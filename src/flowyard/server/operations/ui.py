"""What Prefect's own UI asks of the server besides the public API (``/ui/*``): per-flow
and per-run aggregates for list pages, scatter points for run history, and the task-run
dashboard's buckets. Each is one grouped query, never one query per row."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from flowyard.schemas.filters import RunFilters
from flowyard.schemas.json_schema import SchemaError, problems
from flowyard.schemas.sorting import FlowRunSort
from flowyard.schemas.states import StateType
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Invalid, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import task_runs as task_run_queries
from flowyard.server.queries import ui as queries
from flowyard.server.queries.run_filters import flow_run_conditions, task_run_conditions

READ_RUNS = permission("read", "flow_run")
READ_FLOWS = permission("read", "flow")
READ_TASK_RUNS = permission("read", "task_run")
DASHBOARD_BUCKETS = 20
MAX_FORM_ERRORS = 100


@operation(READ_RUNS)
async def flow_run_points(
    tx: Tx, filters: RunFilters, sort: FlowRunSort, limit: int, offset: int
) -> list[dict[str, Any]]:
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    rows = await queries.read_flow_run_points(
        tx.session, conditions, sort, limit, offset, utcnow(), tx.dialect
    )
    return [
        {"id": r.id, "state_type": r.state_type, "timestamp": r.timestamp,
         "duration": float(r.duration or 0.0), "lateness": float(r.lateness or 0.0)}
        for r in rows
    ]  # fmt: skip


@operation(READ_RUNS)
async def count_task_runs_of(tx: Tx, flow_run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts = await queries.count_task_runs_by_flow_run(tx.session, tx.workspace_id, flow_run_ids)
    return {run_id: counts.get(run_id, 0) for run_id in flow_run_ids}


@operation(READ_FLOWS)
async def count_deployments_of(tx: Tx, flow_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts = await queries.count_deployments_by_flow(tx.session, tx.workspace_id, flow_ids)
    return {flow_id: counts.get(flow_id, 0) for flow_id in flow_ids}


@operation(READ_FLOWS)
async def next_runs_of(
    tx: Tx, flow_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any] | None]:
    found = await queries.read_next_runs_by_flow(tx.session, tx.workspace_id, flow_ids, utcnow())
    answer: dict[uuid.UUID, dict[str, Any] | None] = {}
    for flow_id in flow_ids:
        row = found.get(flow_id)
        answer[flow_id] = None if row is None else {
            "id": row.id, "flow_id": row.flow_id, "name": row.name,
            "state_name": row.state_name, "state_type": row.state_type,
            "next_scheduled_start_time": row.next_scheduled_start_time,
        }  # fmt: skip
    return answer


@operation(READ_TASK_RUNS)
async def task_run_counts_by_state(tx: Tx, filters: RunFilters) -> dict[str, int]:
    conditions = task_run_conditions(tx.workspace_id, filters, tx.dialect)
    counts = await queries.count_task_runs_by_state(tx.session, conditions)
    return {state.value: counts.get(state.value, 0) for state in StateType}


@operation(READ_TASK_RUNS)
async def task_run_dashboard_counts(tx: Tx, filters: RunFilters) -> list[dict[str, Any]]:
    """Completed and failed task runs in 20 equal intervals from the filter's start."""
    window = filters.task_runs.start_time if filters.task_runs else None
    start = window.after_ if window is not None else None
    if start is None:
        raise Invalid("task_runs.start_time.after_ is required: the dashboard needs a window.")
    end = utcnow()
    start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    span = max((end - start).total_seconds(), 1.0) / DASHBOARD_BUCKETS
    buckets = [{"completed": 0, "failed": 0} for _ in range(DASHBOARD_BUCKETS)]
    conditions = task_run_conditions(tx.workspace_id, filters, tx.dialect)
    for at, state_type in await queries.read_task_run_outcomes(tx.session, conditions, start):
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        index = min(int((at - start).total_seconds() // span), DASHBOARD_BUCKETS - 1)
        key = "completed" if state_type == StateType.COMPLETED.value else "failed"
        buckets[max(index, 0)][key] += 1
    return buckets


@operation(READ_TASK_RUNS)
async def read_task_run_with_flow_run_name(tx: Tx, task_run_id: uuid.UUID) -> dict[str, Any]:
    row = await task_run_queries.read_task_run_with_state(tx.session, tx.workspace_id, task_run_id)
    if row is None:
        raise NotFound("Task run not found.")
    model = task_run_queries.task_run_schema_from_row(row)
    name = await queries.read_flow_run_name(tx.session, tx.workspace_id, model.flow_run_id)
    return {**model.model_dump(mode="json"), "flow_run_name": name}


def validate_values(json_schema: dict[str, Any], values: Any) -> dict[str, Any]:
    """``/ui/schemas/validate``: the form's errors, grouped by property, as the UI shows
    them. No database: a plain function, open to anyone who may read the workspace."""
    try:
        found = problems(values, json_schema, limit=MAX_FORM_ERRORS)
    except SchemaError as exc:
        raise Invalid(f"json_schema: {exc}") from None
    errors: list[Any] = []
    by_property: dict[str, list[str]] = {}
    for problem in found:
        if problem.path:
            by_property.setdefault(problem.path, []).append(problem.message)
        else:
            errors.append(problem.message)
    errors.extend({"property": p, "errors": m} for p, m in by_property.items())
    return {"errors": errors, "valid": not errors}
