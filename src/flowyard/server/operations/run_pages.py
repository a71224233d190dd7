"""What the web UI's flow-run and task-run pages read: a run with what its header shows,
one section at a time (task runs, subflow runs, artifacts, logs), and a task run with its
inputs' names.

Each section is a bounded read (a page of rows, a window of logs), so a run with 10,000
task runs or 100,000 log lines opens as fast as a small one. Changes go through the
operations the API uses (``flow_runs``, ``flow_run_control``, ``flow_run_pages``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flowyard.schemas import core
from flowyard.schemas.filters import (
    ArtifactFilter,
    FlowRunFilter,
    IdFilter,
    OptionalIdFilter,
    RunFilters,
    TaskRunFilter,
)
from flowyard.schemas.flow_run_control import FlowRunBlocker
from flowyard.schemas.sorting import ArtifactSort, FlowRunSort, TaskRunSort
from flowyard.schemas.states import State, StateType
from flowyard.server.errors import NotFound
from flowyard.server.operations import artifacts, flow_run_control, flow_runs, states, task_runs
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.operations.flow_run_pages import read_flow_names
from flowyard.server.queries import log_windows
from flowyard.server.queries.log_windows import LogKey

READ_RUN = permission("read", "flow_run")
READ_TASK_RUN = permission("read", "task_run")
READ_LOG = permission("read", "log")
TASK_RUN_PAGE = 100
SUBFLOW_LIMIT = 200
ARTIFACT_LIMIT = 100
MAX_LOG_PAGE = 500
# A task run that reduced thousands of results names them all; the page names this many.
MAX_INPUT_NAMES = 200
# "Why isn't it running?" is asked of runs that wait: Scheduled (Late is a Scheduled
# state) and Pending.
WAITING = frozenset({StateType.SCHEDULED, StateType.PENDING})


@dataclass(frozen=True, slots=True)
class RunLink:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class FlowRunDetail:
    run: core.FlowRun
    flow_name: str
    states: list[State]
    blockers: list[FlowRunBlocker] | None  # None: the run is not waiting
    parent: RunLink | None  # the flow run this one is a subflow of


@operation(READ_RUN)
async def read_flow_run_detail(tx: Tx, flow_run_id: uuid.UUID) -> FlowRunDetail:
    run = await flow_runs.read_flow_run(tx, flow_run_id)
    names = await read_flow_names(tx, {run.flow_id})
    history = await states.read_flow_run_states(tx, flow_run_id)
    blockers = None
    if run.state_type in WAITING:
        blockers = (await flow_run_control.read_flow_run_blockers(tx, flow_run_id)).blockers
    parent = None
    if run.parent_task_run_id is not None:
        parent = await _parent_flow_run(tx, run.parent_task_run_id)
    return FlowRunDetail(run, names.get(run.flow_id, ""), history, blockers, parent)


async def _parent_flow_run(tx: Tx, task_run_id: uuid.UUID) -> RunLink | None:
    try:
        tracker = await task_runs.read_task_run(tx, task_run_id)
    except NotFound:
        return None
    if tracker.flow_run_id is None:
        return None
    try:
        parent = await flow_runs.read_flow_run(tx, tracker.flow_run_id)
    except NotFound:
        return None
    return RunLink(parent.id, parent.name)


@dataclass(frozen=True, slots=True)
class TaskRunPage:
    task_runs: list[core.TaskRun]
    page: int
    has_more: bool


@operation(READ_TASK_RUN)
async def read_task_runs_of_flow_run(tx: Tx, flow_run_id: uuid.UUID, page: int) -> TaskRunPage:
    """A page of the run's task runs in the order they were expected to start (bounded by
    the graph's own limit of task runs per run, so an offset stays cheap)."""
    page = max(page, 1)
    filters = RunFilters(task_runs=TaskRunFilter(flow_run_id=OptionalIdFilter(any_=[flow_run_id])))
    rows = await task_runs.read_task_runs(
        tx, filters, TaskRunSort.EXPECTED_START_TIME_ASC, TASK_RUN_PAGE + 1,
        (page - 1) * TASK_RUN_PAGE,
    )  # fmt: skip
    return TaskRunPage(rows[:TASK_RUN_PAGE], page, len(rows) > TASK_RUN_PAGE)


@operation(READ_RUN)
async def read_subflow_runs(tx: Tx, flow_run_id: uuid.UUID) -> list[core.FlowRun]:
    filters = RunFilters(flow_runs=FlowRunFilter(parent_flow_run_id=IdFilter(any_=[flow_run_id])))
    return await flow_runs.read_flow_runs(
        tx, filters, FlowRunSort.EXPECTED_START_TIME_ASC, SUBFLOW_LIMIT
    )


@operation(READ_RUN)
async def read_artifacts_of_flow_run(tx: Tx, flow_run_id: uuid.UUID) -> list[core.Artifact]:
    selection = ArtifactFilter(flow_run_id=IdFilter(any_=[flow_run_id]))
    return await artifacts.read_artifacts(
        tx, selection, None, ArtifactSort.CREATED_DESC, ARTIFACT_LIMIT
    )


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which of a run's lines to show: at least ``min_level``, containing ``text``, and
    either the page before ``before`` (newest first), or the lines after ``after``."""

    min_level: int = 0
    text: str = ""
    task_run_id: uuid.UUID | None = None
    before: LogKey | None = None
    after: LogKey | None = None
    limit: int = 200


@dataclass(frozen=True, slots=True)
class LogWindow:
    logs: list[core.Log]  # oldest first
    earlier: LogKey | None  # the cursor of the page before, when there may be one
    last: LogKey | None  # the newest line shown (or the cursor given), for the live tail


@operation(READ_LOG)
async def read_run_logs(tx: Tx, flow_run_id: uuid.UUID, query: LogQuery) -> LogWindow:
    limit = max(1, min(query.limit, MAX_LOG_PAGE))
    rows = await log_windows.read_log_window(
        tx.session, tx.workspace_id, flow_run_id, task_run_id=query.task_run_id,
        min_level=query.min_level, text=query.text, before=query.before, after=query.after,
        limit=limit,
    )  # fmt: skip
    logs = [core.Log.from_row(row) for row in rows]
    if query.after is not None:
        last = _key(logs[-1]) if logs else query.after
        return LogWindow(logs, None, last)
    logs.reverse()
    earlier = _key(logs[0]) if len(logs) == limit else None
    return LogWindow(logs, earlier, _key(logs[-1]) if logs else query.before)


def _key(log: core.Log) -> tuple[dt.datetime, uuid.UUID]:
    return (log.timestamp, log.id)


@dataclass(frozen=True, slots=True)
class TaskRunDetail:
    task_run: core.TaskRun
    states: list[State]
    flow_run: RunLink | None
    # The names of the task runs and flow runs its inputs came from.
    input_names: dict[uuid.UUID, str]


@operation(READ_TASK_RUN)
async def read_task_run_detail(tx: Tx, task_run_id: uuid.UUID) -> TaskRunDetail:
    task_run = await task_runs.read_task_run(tx, task_run_id)
    history = await states.read_task_run_states(tx, task_run_id)
    flow_run = None
    if task_run.flow_run_id is not None:
        try:
            run = await flow_runs.read_flow_run(tx, task_run.flow_run_id)
            flow_run = RunLink(run.id, run.name)
        except NotFound:
            flow_run = None
    upstream = sorted(
        {item.id for items in task_run.task_inputs.values() for item in items
         if item.input_type == "task_run" and item.id is not None}
    )[:MAX_INPUT_NAMES]  # fmt: skip
    names: dict[uuid.UUID, str] = {}
    if upstream:
        filters = RunFilters(task_runs=TaskRunFilter(id=IdFilter(any_=upstream)))
        found = await task_runs.read_task_runs(tx, filters, None, len(upstream))
        names = {row.id: row.name for row in found}
    return TaskRunDetail(task_run, history, flow_run, names)
