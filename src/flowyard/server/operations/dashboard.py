"""What the web UI's dashboard reads: "what is the health of my system?" for a window.

Each section is one read (a few for the work pools, whose status the pool responses
derive from their workers): the state history, from which the counts and success rate
come too; the late runs, the failed runs and the upcoming runs (a few of each); the
task-run counts by state; the pools. Never one query per row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flowyard.schemas import core
from flowyard.schemas.filters import (
    FlowRunFilter,
    RunFilters,
    StateFilter,
    StateNameFilter,
    StateTypeFilter,
    TagsFilter,
    TaskRunFilter,
    TimeFilter,
)
from flowyard.schemas.states import StateType
from flowyard.schemas.work_pools import WorkPool
from flowyard.server.database.types import utcnow
from flowyard.server.operations import flow_runs, ui, work_pools
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.flow_run_pages import read_flow_names
from flowyard.server.queries import flow_run_pages as run_page_queries
from flowyard.server.queries import flow_runs as run_queries
from flowyard.server.queries import workers as worker_queries
from flowyard.server.queries.flow_run_pages import FlowRunOrder
from flowyard.server.queries.run_filters import flow_run_conditions

HISTORY_BUCKETS = 30
CALLED_OUT_RUNS = 5
MAX_POOLS = 50


@dataclass(frozen=True, slots=True)
class Dashboard:
    history: list[core.HistoryInterval]
    late_runs: list[core.FlowRun]
    failed_runs: list[core.FlowRun]
    upcoming_runs: list[core.FlowRun]
    flow_names: dict[uuid.UUID, str]
    task_run_counts: dict[str, int]
    work_pools: list[WorkPool]
    last_polls: dict[uuid.UUID, dt.datetime]


def _runs(tags: list[str], **fields: object) -> RunFilters:
    """Flow runs carrying every one of ``tags`` and matching ``fields``."""
    tag_filter = TagsFilter(all_=tags) if tags else None
    return RunFilters(flow_runs=FlowRunFilter(tags=tag_filter, **fields))


async def _few_runs(tx: Tx, filters: RunFilters, order: FlowRunOrder) -> list[core.FlowRun]:
    # The keyset read: it sorts ids and keys only, then reads the few whole rows.
    conditions = flow_run_conditions(tx.workspace_id, filters, tx.dialect)
    rows, _ = await run_page_queries.read_flow_run_keyset_page(
        tx.session, conditions, order, None, CALLED_OUT_RUNS
    )
    now = utcnow()
    return [run_queries.flow_run_schema_from_row(row, now) for row in rows]


@operation(permission("read", "flow_run"))
async def read_dashboard(
    tx: Tx, tags: list[str], start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Dashboard:
    """Runs (with all of ``tags``) expected to start in ``start``..``end``: their history,
    warnings and task runs; and the next runs due after ``now``, and the work pools."""
    filters = _runs(tags)
    interval = max((end - start).total_seconds() / HISTORY_BUCKETS, 1.0)
    history = await flow_runs.flow_run_history(tx, filters, start, end, interval)
    window = TimeFilter(after_=start, before_=end)
    late = await _few_runs(
        tx, _runs(tags, expected_start_time=window,
                  state=StateFilter(name=StateNameFilter(any_=["Late"]))),
        FlowRunOrder.EXPECTED_START_ASC,
    )  # fmt: skip
    unsuccessful = StateTypeFilter(any_=[StateType.FAILED, StateType.CRASHED])
    failed = await _few_runs(
        tx, _runs(tags, expected_start_time=window, state=StateFilter(type=unsuccessful)),
        FlowRunOrder.START_DESC,
    )  # fmt: skip
    upcoming = await _few_runs(
        tx, _runs(tags, expected_start_time=TimeFilter(after_=now),
                  state=StateFilter(type=StateTypeFilter(any_=[StateType.SCHEDULED]))),
        FlowRunOrder.EXPECTED_START_ASC,
    )  # fmt: skip
    names = await read_flow_names(tx, {run.flow_id for run in [*late, *failed, *upcoming]})
    # Task runs by their own window and tags (a task run carries its flow run's tags), not
    # through their flow runs: the expected-start index answers it without a join.
    task_runs = await ui.task_run_counts_by_state(
        tx, RunFilters(task_runs=TaskRunFilter(
            expected_start_time=window, tags=TagsFilter(all_=tags) if tags else None))
    )  # fmt: skip
    pools = await work_pools.read_work_pools(tx, None, MAX_POOLS)
    polls = await worker_queries.last_heartbeats(
        tx.session, tx.workspace_id, [pool.id for pool in pools]
    )
    return Dashboard(history, late, failed, upcoming, names, task_runs, pools, polls)
