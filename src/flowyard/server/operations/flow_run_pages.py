"""What the web UI's flow-run list reads and does: a keyset page of runs with what each row
shows, and the bulk actions on a selection.

A page is three queries whatever its size: the runs (with their states), the names of
their flows, and their task-run counts (grouped), never one query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from flowyard.schemas import core
from flowyard.schemas.filters import FlowRunFilter, IdFilter, RunFilters
from flowyard.schemas.states import OrchestrationResult, StateCreate, StateType
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Invalid
from flowyard.server.operations import flow_runs
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.ui import count_task_runs_of
from flowyard.server.queries import flow_run_pages as queries
from flowyard.server.queries import flow_runs as run_queries
from flowyard.server.queries import flows as flow_queries
from flowyard.server.queries.flow_run_pages import FlowRunOrder, Keyset
from flowyard.server.queries.run_filters import flow_run_conditions

READ = permission("read", "flow_run")
MAX_PAGE_SIZE = 200
# A selection is what one page shows: bulk actions never reach further than that.
MAX_SELECTION = MAX_PAGE_SIZE
MAX_CHOICES = 500

__all__ = ["FlowRunOrder", "FlowRunPage", "Keyset", "read_flow_run_page"]


@dataclass(frozen=True, slots=True)
class FlowRunPage:
    runs: list[core.FlowRun]
    next: Keyset | None
    flow_names: dict[uuid.UUID, str]
    task_run_counts: dict[uuid.UUID, int]


@operation(READ)
async def read_flow_run_page(
    tx: Tx, filters: RunFilters, order: FlowRunOrder, after: Keyset | None, limit: int
) -> FlowRunPage:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    rows, next_page = await queries.read_flow_run_keyset_page(
        tx.session, conditions, order, after, limit
    )
    now = utcnow()
    runs = [run_queries.flow_run_schema_from_row(row, now) for row in rows]
    names = await read_flow_names(tx, {run.flow_id for run in runs})
    counts = await count_task_runs_of(tx, [run.id for run in runs]) if runs else {}
    return FlowRunPage(runs, next_page, names, counts)


@operation(permission("read", "flow"))
async def read_flow_names(tx: Tx, flow_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    flows = await flow_queries.read_flows_by_ids(tx.session, tx.workspace_id, sorted(flow_ids))
    return {flow.id: flow.name for flow in flows}


@operation(READ)
async def read_filter_choices(tx: Tx) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """The flows, deployments and work pools the list's filter offers (the first
    ``MAX_CHOICES`` of each by name)."""
    return await queries.read_filter_choices(tx.session, tx.workspace_id, MAX_CHOICES)


# --- bulk actions: each run through orchestration, one transaction for the selection ------


RETRY_STATE = StateCreate(
    type=StateType.SCHEDULED, name="AwaitingRetry", message="Retried from the UI."
)
CANCEL_STATE = StateCreate(type=StateType.CANCELLING, message="Cancelled from the UI.")
SETTABLE_STATES = (
    StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED,
)  # fmt: skip


def _checked(flow_run_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    if not flow_run_ids:
        raise Invalid("Select at least one flow run.")
    if len(flow_run_ids) > MAX_SELECTION:
        raise Invalid(f"Select at most {MAX_SELECTION} flow runs at a time.")
    return list(dict.fromkeys(flow_run_ids))


BulkOutcome = list[tuple[uuid.UUID, OrchestrationResult | None]]


@operation(flow_runs.UPDATE, writes=True)
async def cancel_flow_runs(tx: Tx, flow_run_ids: Sequence[uuid.UUID]) -> BulkOutcome:
    """Propose Cancelling (orchestration cancels directly a run with nothing to stop)."""
    return await flow_runs.bulk_set_flow_run_state(tx, _checked(flow_run_ids), CANCEL_STATE)


@operation(flow_runs.UPDATE, writes=True)
async def retry_flow_runs(tx: Tx, flow_run_ids: Sequence[uuid.UUID]) -> BulkOutcome:
    """Schedule the runs again (AwaitingRetry), as the policy allows: a deployment's
    finished run, not one that nothing would start."""
    return await flow_runs.bulk_set_flow_run_state(tx, _checked(flow_run_ids), RETRY_STATE)


@operation(flow_runs.UPDATE, writes=True)
async def force_flow_run_states(
    tx: Tx, flow_run_ids: Sequence[uuid.UUID], state_type: StateType, message: str | None
) -> BulkOutcome:
    """Set a final state by hand (forced: the operator overrides the run's own report)."""
    if state_type not in SETTABLE_STATES:
        allowed = ", ".join(s.value for s in SETTABLE_STATES)
        raise Invalid(f"state: one of {allowed}, not {state_type.value}.")
    state = StateCreate(type=state_type, message=message or "Set from the UI.")
    return await flow_runs.bulk_set_flow_run_state(
        tx, _checked(flow_run_ids), state, force=True
    )


@operation(flow_runs.DELETE, writes=True)
async def delete_flow_runs(tx: Tx, flow_run_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    ids = _checked(flow_run_ids)
    selection = FlowRunFilter(id=IdFilter(any_=ids))
    return await flow_runs.bulk_delete_flow_runs(tx, selection, len(ids))
