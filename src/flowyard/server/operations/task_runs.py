"""Task runs: create (an upsert), read, filter, count, history, set state, update, delete,
and the batches of task runs that clients orchestrated themselves.

Most task runs never come through :func:`create_task_run`: the official client reports
them as ``prefect.task-run.<State>`` events and our SDK as compact reports
(:func:`record_task_run_reports`); both are written by orchestration's bulk path, the
recorder. A run's state is only ever written by orchestration: the first one by
``apply_initial_task_run_state``, later ones by ``set_task_run_state`` (and by the recorder).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, IntegrityError

from flowyard.schemas import actions, core
from flowyard.schemas.filters import RunFilters
from flowyard.schemas.sorting import TaskRunSort
from flowyard.schemas.states import OrchestrationResult, StateCreate
from flowyard.schemas.task_run_reports import TaskRunReport
from flowyard.server.database import orm
from flowyard.server.database.types import utcnow
from flowyard.server.errors import Conflict, Invalid, NotFound
from flowyard.server.operations import references
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.orchestration import transitions
from flowyard.server.orchestration.task_run_reports import record_reports
from flowyard.server.queries import history
from flowyard.server.queries import task_runs as queries
from flowyard.server.queries.run_filters import task_run_conditions

READ = permission("read", "task_run")
CREATE = permission("create", "task_run")
UPDATE = permission("update", "task_run")
DELETE = permission("delete", "task_run")
NOT_FOUND = "Task run not found."


@operation(CREATE, writes=True)
async def create_task_run(tx: Tx, create: actions.TaskRunCreate) -> tuple[core.TaskRun, bool]:
    """The new task run and True, or the run it duplicates (same id, or same flow run, task
    key and dynamic key) and False."""
    existing = await queries.read_existing_task_run(tx.session, tx.workspace_id, create)
    if existing is not None:
        return queries.task_run_schema_from_row(existing), False
    if tx.ctx.db.is_sqlite:
        # Writes are serialised on SQLite: nobody can insert between our read and insert.
        return await _insert(tx, create), True
    try:
        async with tx.session.begin_nested():
            return await _insert(tx, create), True
    except IntegrityError:
        # A concurrent request inserted the same task run first: answer with that one.
        existing = await queries.read_existing_task_run(tx.session, tx.workspace_id, create)
        if existing is None:
            raise Conflict(f"id: task run {create.id} already exists.") from None
        return queries.task_run_schema_from_row(existing), False


async def _insert(tx: Tx, create: actions.TaskRunCreate) -> core.TaskRun:
    if create.task_inputs:
        flow_runs, task_runs = references.upstream_runs(create.task_inputs)
        await references.refuse_foreign_runs(
            tx, flow_run_ids={"task_inputs": flow_runs}, task_run_ids={"task_inputs": task_runs}
        )
    try:
        run = await queries.create_task_run(tx.session, tx.workspace_id, create)
        state = await transitions.apply_initial_task_run_state(tx.session, run, create.state)
        await tx.session.flush()
    except IntegrityError:
        if tx.ctx.db.is_sqlite:
            # Only reachable with a client-chosen id that another workspace already uses.
            raise Conflict(f"id: task run {create.id} already exists.") from None
        raise  # PostgreSQL: the caller's savepoint handler tells a race from a taken id
    return queries.task_run_schema(run, state)


@operation(UPDATE, writes=True)
async def record_task_run_reports(tx: Tx, reports: Sequence[TaskRunReport]) -> set[uuid.UUID]:
    """Record task runs the client orchestrated itself (``POST /task_runs/reports``, the
    embedded SDK): each state with its event. Returns the state ids stored."""
    try:
        return await record_reports(tx.session, tx.workspace_id, reports)
    except DBAPIError as exc:
        # PostgreSQL refuses a NUL character in text and JSON. Reports are validated in
        # one pass without a per-string check (they carry every task run): the database's
        # refusal is the check, answered as the bad request it is; the batch is not stored.
        if _is_nul_refusal(exc):
            raise Invalid(
                "A report holds a NUL character (\\u0000): it cannot be stored."
            ) from None
        raise


def _is_nul_refusal(exc: DBAPIError) -> bool:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    # Text columns: "invalid byte sequence ... 0x00"; JSON: "unsupported Unicode escape".
    return "0x00" in text or "\\u0000" in text or "unsupported Unicode escape" in text


@operation(READ)
async def read_task_run(tx: Tx, task_run_id: uuid.UUID) -> core.TaskRun:
    row = await queries.read_task_run_with_state(tx.session, tx.workspace_id, task_run_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return queries.task_run_schema_from_row(row)


@operation(READ)
async def read_task_runs(
    tx: Tx, filters: RunFilters, sort: TaskRunSort | None, limit: int, offset: int = 0
) -> list[core.TaskRun]:
    conditions = task_run_conditions(tx.workspace_id, filters, tx.dialect)
    rows = await queries.read_task_runs(
        tx.session, conditions, sort or TaskRunSort.ID_DESC, limit, offset
    )
    now = utcnow()
    return [queries.task_run_schema_from_row(row, now) for row in rows]


@operation(READ)
async def count_task_runs(tx: Tx, filters: RunFilters) -> int:
    conditions = task_run_conditions(tx.workspace_id, filters, tx.dialect)
    return await queries.count_task_runs(tx.session, conditions)


@operation(READ)
async def paginate_task_runs(
    tx: Tx, filters: RunFilters, sort: TaskRunSort | None, limit: int, page: int
) -> tuple[list[core.TaskRun], int]:
    """One page of task runs and the count of all that match, from one snapshot."""
    count = await count_task_runs(tx, filters)
    return await read_task_runs(tx, filters, sort, limit, (page - 1) * limit), count


@operation(READ)
async def task_run_history(
    tx: Tx, filters: RunFilters, start: dt.datetime, end: dt.datetime, interval: float
) -> list[core.HistoryInterval]:
    conditions = task_run_conditions(tx.workspace_id, filters, tx.dialect)
    return await history.read_run_history(
        tx.session, orm.TaskRun, conditions, start, end, interval, tx.dialect
    )


@operation(UPDATE, writes=True)
async def set_task_run_state(
    tx: Tx, task_run_id: uuid.UUID, state: StateCreate, force: bool = False
) -> OrchestrationResult:
    """Propose a state; the task policy decides (``force``: the minimal policy)."""
    result = await transitions.set_task_run_state(
        tx.session, tx.workspace_id, task_run_id, state, force=force
    )
    if result is None:
        raise NotFound(NOT_FOUND)
    return result


@operation(UPDATE, writes=True)
async def update_task_run(tx: Tx, task_run_id: uuid.UUID, update: actions.TaskRunUpdate) -> None:
    if not await queries.update_task_run(tx.session, tx.workspace_id, task_run_id, update):
        raise NotFound(NOT_FOUND)


@operation(DELETE, writes=True)
async def delete_task_run(tx: Tx, task_run_id: uuid.UUID) -> None:
    if not await queries.delete_task_run(tx.session, tx.workspace_id, task_run_id):
        raise NotFound(NOT_FOUND)
