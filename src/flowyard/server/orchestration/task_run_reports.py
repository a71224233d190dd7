"""The recorder's second door: task-run reports (``POST /task_runs/reports``, and the
embedded SDK handing its batches over directly) become the same rows as task-run events,
each state row the stored form of its ``prefect.task-run.<State>`` event (the SDK sends no
events; see ``queries.task_run_events``).

A report is the flat form of a ``prefect.task-run.<State>`` event
(:mod:`flowyard.schemas.task_run_reports`); this module only maps its fields onto the
recorder's :class:`~flowyard.server.orchestration.recorder.TaskRunRecord`, and
:func:`~flowyard.server.orchestration.recorder.record_runs` applies the very rules events go
through (latest state wins, ids and keys resolved, foreign runs untouched).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.states import StateType, default_name
from flowyard.schemas.task_run_reports import TaskRunReport
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.orchestration.recorder import TaskRunRecord, parse_time, record_runs
from flowyard.server.queries import outbox
from flowyard.server.queries.task_run_events import state_event

# Defaults shared by every report that leaves a field out. One object per default (never
# mutated) also lets the batch writer convert each once per batch instead of once per row.
_EMPTY_DICT: dict[str, Any] = {}
_EMPTY_LIST: list[str] = []
# Each state type (a member, or its plain string: they hash and compare alike) -> its
# plain string and the usual name of its states: one lookup instead of two enum calls.
_STATE_TYPES = {member: (member.value, default_name(member)) for member in StateType}


def record_from_report(
    workspace_id: uuid.UUID, report: TaskRunReport, now: dt.datetime
) -> TaskRunRecord:
    """The rows one (validated) report implies: exactly what the equivalent event gives."""
    get = report.get
    details: dict[str, Any] = report.get("state_details") or _EMPTY_DICT
    state_type, usual_name = _STATE_TYPES[report["state_type"]]
    state_name = get("state_name") or usual_name
    timestamp = report["state_timestamp"]
    run = {
        "id": report["id"],
        "workspace_id": workspace_id,
        "created": now,
        "updated": now,
        "flow_run_id": report["flow_run_id"],
        "name": report["name"][:255],
        "task_key": report["task_key"],
        "dynamic_key": report["dynamic_key"],
        "cache_key": get("cache_key"),
        "cache_expiration": get("cache_expiration"),
        "task_version": get("task_version"),
        "empirical_policy": get("empirical_policy") or _EMPTY_DICT,
        "tags": get("tags") or _EMPTY_LIST,
        "labels": get("labels") or _EMPTY_DICT,
        "task_inputs": get("task_inputs") or _EMPTY_DICT,
        "run_count": get("run_count", 0),
        "flow_run_run_count": get("flow_run_run_count", 0),
        "expected_start_time": get("expected_start_time"),
        "start_time": get("start_time"),
        "end_time": get("end_time"),
        "total_run_time": get("total_run_time", 0.0),
        "next_scheduled_start_time": (
            parse_time(details.get("scheduled_time")) if state_type == "SCHEDULED" else None
        ),
        "state_id": report["state_id"],
        "state_type": state_type,
        "state_name": state_name,
        "state_timestamp": timestamp,
    }
    state = {
        "id": report["state_id"],
        "workspace_id": workspace_id,
        "task_run_id": report["id"],
        "created": now,
        "type": state_type,
        "name": state_name,
        "timestamp": timestamp,
        "message": get("state_message"),
        "state_details": details,
        "data": get("state_data"),
    }
    # Kept as the client sent them: turned into events only if someone listens.
    return TaskRunRecord(run, state, tuple(report.get("passed_states") or ()))


def _passed_state(passed: Any) -> dict[str, Any]:
    """A state the run passed through before its report's, in the shape ``state_event``
    reads (the events of such states are announced, not stored, and get their id here)."""
    state_type, usual_name = _STATE_TYPES[passed["type"]]
    timestamp = passed["timestamp"]
    if not isinstance(timestamp, dt.datetime):  # the embedded SDK hands Unix seconds over
        timestamp = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return {"id": new_id(), "type": state_type, "name": passed.get("name") or usual_name,
            "timestamp": timestamp, "message": None}  # fmt: skip


async def record_reports(
    session: AsyncSession, workspace_id: uuid.UUID, reports: Sequence[TaskRunReport]
) -> set[uuid.UUID]:
    """Record validated reports; returns the state ids stored (reports of a flow run unknown
    in this workspace, or of a run id another workspace owns, are skipped)."""
    now = utcnow()
    records = [record_from_report(workspace_id, r, now) for r in reports]
    stored = await record_runs(session, workspace_id, records)
    kept = [record for record in records if record.state_id_as_sent in stored]
    if kept:
        # Each state is the stored form of its event (``queries.task_run_events``): the
        # listeners are told of them once committed, nothing is stored twice.
        outbox.announce(session, lambda: report_events(workspace_id, kept))
    return stored


def report_events(
    workspace_id: uuid.UUID, records: Sequence[TaskRunRecord]
) -> list[tuple[uuid.UUID, core.Event]]:
    """``prefect.task-run.<State>`` for every state the records stored, oldest first."""
    events = []
    for record in records:
        for passed in record.earlier:
            events.append((workspace_id, state_event(record.run, _passed_state(passed))))
        events.append((workspace_id, state_event(record.run, record.state)))
    return events
