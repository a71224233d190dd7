"""The task-run recorder: orchestration's bulk path for task runs that clients orchestrate
themselves, turning ``prefect.task-run.<State>`` events (and, through
:mod:`~flowyard.server.orchestration.task_run_reports`, the SDK's compact reports) into
task-run rows and state rows.

The client has already applied the task policy; what is left for the server is to store
the outcome, fast (it carries every task run of every flow): so this path skips the rule
loop but keeps orchestration's invariants -- the latest state wins, a run is never moved
between workspaces, a run of an unknown flow run is refused -- and it is, with the policies
of :mod:`~flowyard.server.orchestration.transitions`, the only writer of task-run states.

The official client orchestrates tasks itself and reports each new state only as an event,
so these events are the one way task runs reach the server. Each event carries a full
snapshot of the run (``payload.task_run``) and the state it entered
(``payload.validated_state``); its id is the state id.

A batch becomes, per workspace, one statement upserting the runs and one inserting the
states. Events may come out of order (several websocket connections, retries, a REST post
racing the stream): the upsert only overwrites a run whose stored state is not newer than
the incoming one, so the latest state wins whatever the arrival order. Only the newest
snapshot of each run in a batch is upserted (PostgreSQL refuses to touch one row twice in a
statement, and older snapshots would be discarded anyway).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.states import StateType, default_name
from flowyard.server.database import orm
from flowyard.server.database.engine import json_dumps
from flowyard.server.database.prepared import Prepared
from flowyard.server.database.types import new_id, utcnow

logger = logging.getLogger("flowyard.server.orchestration.recorder")

EVENT_PREFIX = "prefect.task-run."
RESOURCE_PREFIX = "prefect.task-run."
FLOW_RUN_PREFIX = "prefect.flow-run."
TASK_RUN_TABLE = cast(sa.Table, orm.TaskRun.__table__)
STATE_TABLE = cast(sa.Table, orm.TaskRunState.__table__)

# Columns an incoming snapshot overwrites on an existing run (never id/workspace/created).
UPDATED_COLUMNS = (
    "updated", "name", "flow_run_id", "task_key", "dynamic_key", "cache_key",
    "cache_expiration", "task_version", "empirical_policy", "tags", "labels", "task_inputs",
    "run_count", "flow_run_run_count", "expected_start_time", "next_scheduled_start_time",
    "start_time", "end_time", "total_run_time", "state_id", "state_type", "state_name",
    "state_timestamp",
)  # fmt: skip


class TaskRunSnapshot(BaseModel):
    """``payload.task_run``: the run as the client sees it after the transition."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    task_key: str
    dynamic_key: str
    cache_key: str | None = None
    cache_expiration: dt.datetime | None = None
    task_version: str | None = None
    empirical_policy: dict[str, Any] = {}
    tags: list[str] = []
    labels: dict[str, Any] = {}
    task_inputs: dict[str, Any] = {}
    run_count: int = 0
    flow_run_run_count: int = 0
    expected_start_time: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    total_run_time: float = 0.0

    @field_validator("name")
    @classmethod
    def _fit_name(cls, value: str) -> str:
        # Display only: a long name must not cost the run its record (the column is 255).
        return value[:255]


class ValidatedState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: StateType
    name: str | None = None
    message: str | None = None
    timestamp: dt.datetime | None = None
    state_details: dict[str, Any] = {}
    data: Any = None


@dataclass(slots=True)
class TaskRunRecord:
    """One event, parsed: the run row it implies and the state row it adds."""

    run: dict[str, Any]
    state: dict[str, Any]
    # States the run passed through before ``state`` that the client's batch coalesced (as
    # the report carried them): announced to the live listeners as events, not stored (a
    # row for each cost a fifth more instructions per task run; bench/hot_path.py).
    earlier: tuple[Any, ...] = ()
    # The state id the client sent, when it had to be replaced (see ``_claim_state_ids``).
    sent_state_id: uuid.UUID | None = None

    @property
    def state_id_as_sent(self) -> uuid.UUID:
        sent: uuid.UUID = self.sent_state_id or self.state["id"]
        return sent

    @property
    def run_id(self) -> uuid.UUID:
        run_id: uuid.UUID = self.run["id"]
        return run_id

    @property
    def key(self) -> tuple[uuid.UUID | None, str, str]:
        return (self.run["flow_run_id"], self.run["task_key"], self.run["dynamic_key"])


def is_task_run_event(event: core.Event) -> bool:
    return event.event.startswith(EVENT_PREFIX) and event.resource.get(
        "prefect.resource.id", ""
    ).startswith(RESOURCE_PREFIX)


def _uuid_after(prefix: str, resource_id: str) -> uuid.UUID | None:
    if not resource_id.startswith(prefix):
        return None
    try:
        return uuid.UUID(resource_id[len(prefix) :])
    except ValueError:
        return None


def _flow_run_id(event: core.Event) -> uuid.UUID | None:
    for related in event.related:
        if related.get("prefect.resource.role") == "flow-run":
            return _uuid_after(FLOW_RUN_PREFIX, related.get("prefect.resource.id", ""))
    return None


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_task_run_event(
    workspace_id: uuid.UUID, event: core.Event, now: dt.datetime
) -> TaskRunRecord | None:
    """The rows one task-run event implies, or None when it is not a usable one."""
    run_id = _uuid_after(RESOURCE_PREFIX, event.resource.get("prefect.resource.id", ""))
    if run_id is None:
        return None
    try:
        snapshot = TaskRunSnapshot.model_validate(event.payload.get("task_run"))
        state = ValidatedState.model_validate(event.payload.get("validated_state"))
    except ValidationError:
        logger.warning("Ignoring malformed task-run event %s (%s)", event.id, event.event)
        return None
    timestamp = state.timestamp or event.occurred
    state_name = state.name or default_name(state.type)
    scheduled = (
        parse_time(state.state_details.get("scheduled_time"))
        if state.type == StateType.SCHEDULED
        else None
    )
    run = {
        "id": run_id,
        "workspace_id": workspace_id,
        "created": now,
        "updated": now,
        "flow_run_id": _flow_run_id(event),
        **snapshot.model_dump(),
        "next_scheduled_start_time": scheduled,
        "state_id": event.id,
        "state_type": state.type.value,
        "state_name": state_name,
        "state_timestamp": timestamp,
    }
    state_row = {
        "id": event.id,
        "workspace_id": workspace_id,
        "task_run_id": run_id,
        "created": now,
        "type": state.type.value,
        "name": state_name,
        "timestamp": timestamp,
        "message": state.message,
        "state_details": state.state_details,
        "data": state.data,
    }
    return TaskRunRecord(run, state_row)


async def record_task_runs(
    session: AsyncSession, workspace_id: uuid.UUID, events: Iterable[core.Event]
) -> set[uuid.UUID]:
    """Upsert the task runs and insert the states that ``events`` describe.

    Returns the ids of the events recorded (each is now a ``task_run_state`` row with the
    same id). Runs of flow runs unknown in this workspace and runs whose id belongs to
    another workspace are skipped, and their events are not in the returned set.
    """
    now = utcnow()
    records = [
        record
        for event in events
        if is_task_run_event(event)
        and (record := parse_task_run_event(workspace_id, event, now)) is not None
    ]
    return await record_runs(session, workspace_id, records)


async def record_runs(
    session: AsyncSession, workspace_id: uuid.UUID, records: Sequence[TaskRunRecord]
) -> set[uuid.UUID]:
    """Write parsed records (from events or from reports); returns the state ids, as the
    client sent them, of the records stored (a few may be stored under a fresh id: see
    :func:`_claim_state_ids`).

    The same rules whatever the records came from: see :func:`record_task_runs`.
    """
    if not records:
        return set()
    records, existing = await _resolve_identities(session, workspace_id, records)
    if not records:
        return set()
    await _claim_state_ids(session, records)
    newest: dict[uuid.UUID, TaskRunRecord] = {}
    for record in records:
        current = newest.get(record.run_id)
        if current is None or record.run["state_timestamp"] >= current.run["state_timestamp"]:
            newest[record.run_id] = record
    # A stable order keeps concurrent PostgreSQL writers from deadlocking on row locks.
    ordered = sorted(newest, key=_uuid_int)
    if session.sync_session.get_bind().dialect.name == "sqlite":
        # SQLite's upsert costs about twice a plain insert per row, and most runs are new.
        # Which ones is certain: this write transaction began with BEGIN IMMEDIATE, so no
        # other connection can have inserted one of these ids since they were looked up.
        # (On PostgreSQL another replica can: there, every run goes through the upsert.)
        fresh = [newest[run_id].run for run_id in ordered if run_id not in existing]
        ordered = [run_id for run_id in ordered if run_id in existing]
        await _statement(session, "insert_runs", _insert_runs_statement).run_many(session, fresh)
    runs = [newest[run_id].run for run_id in ordered]
    await _statement(session, "upsert_runs", _upsert_runs_statement).run_many(session, runs)
    states = sorted((r.state for r in records), key=lambda row: row["id"].int)
    await _statement(session, "insert_states", _insert_states_statement).run_many(session, states)
    return {record.state_id_as_sent for record in records}


# The recorder's statements differ by dialect (ON CONFLICT, JSON functions): one prepared
# statement per dialect and purpose, built on first use.
_PREPARED: dict[tuple[str, str], Prepared] = {}


def _statement(
    session: AsyncSession, purpose: str, build: Callable[[str], sa.Executable]
) -> Prepared:
    dialect = session.sync_session.get_bind().dialect.name
    prepared = _PREPARED.get((purpose, dialect))
    if prepared is None:
        prepared = _PREPARED[(purpose, dialect)] = Prepared(build(dialect))
    return prepared


def _dialect_insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _insert_runs_statement(dialect: str) -> sa.Executable:
    insert: sa.Executable = _dialect_insert(dialect, TASK_RUN_TABLE).values(
        {column.key: sa.bindparam(column.key) for column in TASK_RUN_TABLE.c}
    )
    return insert


def _upsert_runs_statement(dialect: str) -> sa.Executable:
    stmt = _dialect_insert(dialect, TASK_RUN_TABLE).values(
        {column.key: sa.bindparam(column.key) for column in TASK_RUN_TABLE.c}
    )
    existing = TASK_RUN_TABLE.c
    upsert: sa.Executable = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={column: stmt.excluded[column] for column in UPDATED_COLUMNS},
        where=sa.and_(
            existing.workspace_id == stmt.excluded.workspace_id,
            sa.or_(
                existing.state_timestamp.is_(None),
                stmt.excluded.state_timestamp >= existing.state_timestamp,
            ),
        ),
    )
    return upsert


def _insert_states_statement(dialect: str) -> sa.Executable:
    insert: sa.Executable = (
        _dialect_insert(dialect, STATE_TABLE)
        .values({column.key: sa.bindparam(column.key) for column in STATE_TABLE.c})
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return insert


_RUN_IDENTITY_COLUMNS = (
    sa.column("id", sa.Uuid),
    sa.column("workspace_id", sa.Uuid),
    sa.column("flow_run_id", sa.Uuid),
    sa.column("task_key", sa.String),
    sa.column("dynamic_key", sa.String),
)


def _by_id_statement(dialect: str) -> sa.Executable:
    """The runs, in any workspace, whose id is in ``:ids`` (one JSON parameter): one
    prepared statement for a whole batch, where an ``IN`` of a thousand bound values cost
    SQLAlchemy more than the lookup itself."""
    if dialect == "postgresql":
        sql = """
            SELECT t.id, t.workspace_id, t.flow_run_id, t.task_key, t.dynamic_key
            FROM jsonb_array_elements_text(CAST(:ids AS JSONB)) AS k(v)
            JOIN task_run AS t ON t.id = CAST(k.v AS UUID)
        """
    else:
        sql = """
            SELECT t.id, t.workspace_id, t.flow_run_id, t.task_key, t.dynamic_key
            FROM json_each(:ids) AS k CROSS JOIN task_run AS t
            WHERE t.id = k.value
        """
    return sa.text(sql).bindparams(sa.bindparam("ids")).columns(*_RUN_IDENTITY_COLUMNS)


def _states_by_id_statement(dialect: str) -> sa.Executable:
    """The stored states, in any workspace, whose id is in ``:ids`` (one JSON parameter)."""
    if dialect == "postgresql":
        sql = """
            SELECT s.id, s.workspace_id, s.task_run_id
            FROM jsonb_array_elements_text(CAST(:ids AS JSONB)) AS k(v)
            JOIN task_run_state AS s ON s.id = CAST(k.v AS UUID)
        """
    else:
        sql = """
            SELECT s.id, s.workspace_id, s.task_run_id
            FROM json_each(:ids) AS k CROSS JOIN task_run_state AS s
            WHERE s.id = k.value
        """
    columns = (
        sa.column("id", sa.Uuid),
        sa.column("workspace_id", sa.Uuid),
        sa.column("task_run_id", sa.Uuid),
    )
    return sa.text(sql).bindparams(sa.bindparam("ids")).columns(*columns)


async def _claim_state_ids(session: AsyncSession, records: Sequence[TaskRunRecord]) -> None:
    """Give a fresh id to each state whose id already names another run's state.

    State ids come from the client and are unique across the server, and states are
    inserted with ``ON CONFLICT DO NOTHING`` (a retried event is the same state again). An
    id another workspace (or another run) holds would otherwise leave the run pointing at
    that state: the run would show another workspace's state as its own. The same id sent
    again for the same run keeps its id: that is the retry the conflict clause is for.
    """
    dialect = session.sync_session.get_bind().dialect.name
    by_id = _statement(session, "states_by_id", _states_by_id_statement)
    sent = {record.state["id"] for record in records}
    found = await by_id.rows(session, {"ids": _ids_parameter(dialect, sent)})
    owner: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {
        state_id: (workspace_id, task_run_id) for state_id, workspace_id, task_run_id in found
    }
    for record in records:
        state = record.state
        claimant = (state["workspace_id"], state["task_run_id"])
        held_by = owner.setdefault(state["id"], claimant)  # first in the batch claims it
        if held_by != claimant:
            record.sent_state_id = state["id"]
            state["id"] = record.run["state_id"] = new_id()
            logger.warning(
                "Task-run state id %s is another run's: stored as %s",
                record.sent_state_id, state["id"],
            )  # fmt: skip


def _ids_parameter(dialect: str, ids: Iterable[uuid.UUID]) -> str:
    # SQLite stores UUIDs as 32 hex digits.
    return json_dumps([str(i) for i in ids] if dialect == "postgresql" else [i.hex for i in ids])


def _by_key_statement(dialect: str) -> sa.Executable:
    """The runs of this workspace holding any of the (flow run, task key, dynamic key)
    triples in ``:keys`` (one JSON parameter), found by the unique index, one seek each.

    On SQLite, CROSS JOIN keeps the planner from scanning the workspace's runs instead.
    """
    columns = (
        sa.column("id", sa.Uuid),
        sa.column("flow_run_id", sa.Uuid),
        sa.column("task_key", sa.String),
        sa.column("dynamic_key", sa.String),
    )
    if dialect == "postgresql":
        sql = """
            SELECT t.id, t.flow_run_id, t.task_key, t.dynamic_key
            FROM jsonb_to_recordset(CAST(:keys AS JSONB)) AS k(f uuid, tk text, dk text)
            JOIN task_run AS t
              ON t.workspace_id = :workspace_id AND t.flow_run_id = k.f
             AND t.task_key = k.tk AND t.dynamic_key = k.dk
        """
    else:
        sql = """
            SELECT t.id, t.flow_run_id, t.task_key, t.dynamic_key
            FROM json_each(:keys) AS k CROSS JOIN task_run AS t
            WHERE t.workspace_id = :workspace_id
              AND t.flow_run_id = json_extract(k.value, '$[0]')
              AND t.task_key = json_extract(k.value, '$[1]')
              AND t.dynamic_key = json_extract(k.value, '$[2]')
        """
    return (
        sa.text(sql)
        .bindparams(sa.bindparam("workspace_id", type_=sa.Uuid), sa.bindparam("keys"))
        .columns(*columns)
    )


def _uuid_int(value: uuid.UUID) -> int:
    # Sorting UUIDs by their integer: the same order, without UUID.__lt__ per comparison.
    return value.int


def _keys_parameter(dialect: str, keys: Iterable[tuple[uuid.UUID, str, str]]) -> str:
    # A batch names few flow runs: each one's text is computed once.
    text: dict[uuid.UUID, str] = {}
    if dialect == "postgresql":
        return json_dumps(
            [{"f": text.get(f) or text.setdefault(f, str(f)), "tk": k, "dk": d} for f, k, d in keys]
        )
    # SQLite stores UUIDs as 32 hex digits.
    return json_dumps([[text.get(f) or text.setdefault(f, f.hex), k, d] for f, k, d in keys])


async def _resolve_identities(
    session: AsyncSession, workspace_id: uuid.UUID, records: Sequence[TaskRunRecord]
) -> tuple[list[TaskRunRecord], set[uuid.UUID]]:
    """Map each record onto the row it must update, dropping the ones it must not touch;
    also returns the ids of the kept records' runs that are already stored.

    - a run already created under another id with the same (flow run, task key, dynamic
      key) -- e.g. through ``POST /task_runs`` -- is updated under that id;
    - an id that exists in another workspace is never touched;
    - a flow run unknown in this workspace would break the foreign key: skipped.

    Only the batch's own ids and keys are looked up (by primary key and by the unique
    index), never every run of the flow run: the cost follows the batch, not the table.
    """
    dialect = session.sync_session.get_bind().dialect.name
    run_ids = {r.run_id for r in records}
    by_id = _statement(session, "runs_by_id", _by_id_statement)
    found = await by_id.rows(session, {"ids": _ids_parameter(dialect, run_ids)})
    foreign_ids: set[uuid.UUID] = set()
    stored: set[uuid.UUID] = set()
    id_for_key: dict[tuple[uuid.UUID | None, str, str], uuid.UUID] = {}
    for row_id, row_workspace, flow_run_id, task_key, dynamic_key in found:
        if row_workspace != workspace_id:
            foreign_ids.add(row_id)
        else:
            stored.add(row_id)
            id_for_key[(flow_run_id, task_key, dynamic_key)] = row_id
    # Runs without a flow run never collide: NULLs are distinct in the unique index.
    unresolved = {
        (flow_run_id, task_key, dynamic_key)
        for flow_run_id, task_key, dynamic_key in (r.key for r in records)
        if flow_run_id is not None and (flow_run_id, task_key, dynamic_key) not in id_for_key
    }
    if unresolved:
        by_key = _statement(session, "runs_by_key", _by_key_statement)
        params = {"workspace_id": workspace_id, "keys": _keys_parameter(dialect, unresolved)}
        for row_id, flow_run_id, task_key, dynamic_key in await by_key.rows(session, params):
            stored.add(row_id)
            id_for_key[(flow_run_id, task_key, dynamic_key)] = row_id
    flow_run_ids = {r.run["flow_run_id"] for r in records if r.run["flow_run_id"] is not None}
    known_flow_runs: set[uuid.UUID] = set()
    if flow_run_ids:
        known_flow_runs = set(
            await session.scalars(
                sa.select(orm.FlowRun.id).where(
                    orm.FlowRun.workspace_id == workspace_id, orm.FlowRun.id.in_(flow_run_ids)
                )
            )
        )
    kept: list[TaskRunRecord] = []
    for record in records:
        flow_run_id = record.run["flow_run_id"]
        if record.run_id in foreign_ids or (
            flow_run_id is not None and flow_run_id not in known_flow_runs
        ):
            continue
        existing_id = id_for_key.get(record.key)
        if existing_id is not None and existing_id != record.run_id:
            record.run["id"] = existing_id
            record.state["task_run_id"] = existing_id
        kept.append(record)
    if len(kept) < len(records):
        logger.debug("Skipped %d task-run records without a known run", len(records) - len(kept))
    return kept, stored
