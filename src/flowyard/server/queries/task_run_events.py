"""Task-run state events, kept as their ``task_run_state`` rows.

A ``prefect.task-run.<State>`` event says nothing its state row and its run do not: the
event's id is the state's id, its time the state's timestamp, its resource the run. Task
runs are the largest volume the server records (thousands per flow), and a second copy of
each state in the ``event`` table would cost twice the bytes and a third of the hot path's
time, so these events are not stored twice: writers hand them to the live listeners when
their transaction commits (``queries.outbox.announce``), and the event feed reads them from
the state rows (:func:`read_task_run_events`), merged with the stored events. The states
a client's batch coalesced (see ``TaskRunRecord.earlier``) are announced only.

Filters that only stored events can answer (``any_resource``, related labels, related
roles other than flow-run and tag, resource labels these events do not carry) leave these
events out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.filters import EventFilter, EventOrder
from flowyard.server.database import orm
from flowyard.server.queries.events import bucket_index, label_matches
from flowyard.server.queries.filtering import json_list_contains, like_condition

EVENT_PREFIX = "prefect.task-run."
RESOURCE_PREFIX = "prefect.task-run."
ID = "prefect.resource.id"
ROLE = "prefect.resource.role"
NAME = "prefect.resource.name"
MESSAGE_LIMIT = 100_000


def state_event(run: Mapping[str, Any], state: Mapping[str, Any]) -> core.Event:
    """The event of ``run`` entering ``state`` (rows as dicts, or row objects' mappings)."""
    timestamp: dt.datetime = state["timestamp"]
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=dt.UTC)
    name = state["name"]
    labels = {
        ID: f"{RESOURCE_PREFIX}{run['id']}",
        NAME: run["name"],
        "prefect.run-count": str(run.get("run_count") or 0),
        "prefect.state-message": (state.get("message") or "")[:MESSAGE_LIMIT],
        "prefect.state-name": name,
        "prefect.state-timestamp": timestamp.isoformat(),
        "prefect.state-type": state["type"],
    }
    related = []
    if run.get("flow_run_id") is not None:
        related.append({ID: f"prefect.flow-run.{run['flow_run_id']}", ROLE: "flow-run"})
    related.extend({ID: f"prefect.tag.{tag}", ROLE: "tag"} for tag in run.get("tags") or ())
    return core.Event.model_construct(
        id=state["id"],
        occurred=timestamp,
        event=f"{EVENT_PREFIX}{name}",
        resource=labels,
        related=related,
        payload={"validated_state": {"type": state["type"], "name": name}},
        follows=None,
        received=timestamp,
    )


# --- reading them back --------------------------------------------------------------------


def _ids_after(prefix: str, values: Iterable[str]) -> list[uuid.UUID] | None:
    """The uuids of the values naming a ``prefix`` resource; None when no value does."""
    found = []
    for value in values:
        if value.startswith(prefix):
            try:
                found.append(uuid.UUID(value[len(prefix) :]))
            except ValueError:
                continue
    return found


def _conditions(workspace_id: uuid.UUID, flt: EventFilter, dialect: str) -> list[Any] | None:
    """SQL for the parts of ``flt`` that task-run state events can match; None when the
    filter rules them out altogether (or asks for what only stored events carry)."""
    state, run = orm.TaskRunState, orm.TaskRun
    where: list[Any] = [state.workspace_id == workspace_id]
    occurred = flt.occurred
    if occurred.since is not None:
        where.append(state.timestamp >= occurred.since)
    if occurred.until is not None:
        where.append(state.timestamp <= occurred.until)
    if flt.id.id:
        where.append(state.id.in_(flt.id.id))
    if flt.any_resource is not None:
        return None
    if flt.text is not None:
        # Stored events match on their name and resource id; these on their name (the
        # state's) and on the run's name, which is what a person searching types.
        where.append(
            sa.or_(
                like_condition(sa.literal(EVENT_PREFIX) + state.name, flt.text.query),
                like_condition(run.name, flt.text.query),
            )
        )
    names = flt.event
    if names is not None:
        if names.prefix and not any(
            EVENT_PREFIX.startswith(p) or p.startswith(EVENT_PREFIX) for p in names.prefix
        ):
            return None
        for prefix in names.prefix or ():
            if prefix.startswith(EVENT_PREFIX) and len(prefix) > len(EVENT_PREFIX):
                where.append(state.name.startswith(prefix[len(EVENT_PREFIX) :]))
        if names.name:
            wanted = [n[len(EVENT_PREFIX) :] for n in names.name if n.startswith(EVENT_PREFIX)]
            if not wanted:
                return None
            where.append(state.name.in_(wanted))
        for prefix in names.exclude_prefix or ():
            if EVENT_PREFIX.startswith(prefix):
                return None
            if prefix.startswith(EVENT_PREFIX):
                where.append(sa.not_(state.name.startswith(prefix[len(EVENT_PREFIX) :])))
        excluded = [n[len(EVENT_PREFIX) :] for n in names.exclude_name or ()
                    if n.startswith(EVENT_PREFIX)]  # fmt: skip
        if excluded:
            where.append(state.name.not_in(excluded))
    resource = flt.resource
    if resource is not None:
        for label, expected in (resource.labels or {}).items():
            condition = _label_condition(label, expected)
            if condition is None:
                return None
            where.append(condition)
        if resource.id:
            ids = _ids_after(RESOURCE_PREFIX, resource.id)
            if not ids:
                return None
            where.append(run.id.in_(ids))
        if resource.id_prefix and not any(
            RESOURCE_PREFIX.startswith(p) for p in resource.id_prefix
        ):
            return None
    related_filters = flt.related if isinstance(flt.related, list) else [flt.related]
    for related in related_filters:
        if related is None:
            continue
        if related.labels or related.resources_in_roles:
            return None
        if related.role and not set(related.role) & {"flow-run", "tag"}:
            return None
        if related.id:
            runs = _ids_after("prefect.flow-run.", related.id) or []
            tags = [i[len("prefect.tag.") :] for i in related.id if i.startswith("prefect.tag.")]
            if not runs and not tags:
                return None
            either: list[Any] = []
            if runs:
                either.append(run.flow_run_id.in_(runs))
            either.extend(json_list_contains(run.tags, tag, dialect) for tag in tags)
            where.append(sa.or_(*either))
    return where


def _label_condition(label: str, expected: Any) -> Any | None:
    """SQL for a resource label spec on the labels these events carry (see
    :func:`state_event`); None for a label they derive from nothing queryable."""
    state, run = orm.TaskRunState, orm.TaskRun
    columns: dict[str, Any] = {
        NAME: run.name,
        "prefect.state-name": state.name,
        "prefect.state-type": state.type,
    }
    if label in columns:
        return label_matches(columns[label], expected)
    if label != ID:
        return None
    values = expected if isinstance(expected, list) else [expected]
    everything = any(
        str(v) == "*" or (str(v).endswith("*") and RESOURCE_PREFIX.startswith(str(v)[:-1]))
        for v in values
    )
    if everything:
        return sa.true()
    ids = _ids_after(RESOURCE_PREFIX, [str(v) for v in values if not str(v).endswith("*")])
    return run.id.in_(ids) if ids else sa.false()


async def read_task_run_events(
    session: AsyncSession, workspace_id: uuid.UUID, flt: EventFilter, limit: int
) -> list[core.Event]:
    """Up to ``limit`` task-run state events matching ``flt``, in its order."""
    where = _conditions(workspace_id, flt, session.sync_session.get_bind().dialect.name)
    if where is None or limit <= 0:
        return []
    state, run = orm.TaskRunState, orm.TaskRun
    order = state.timestamp.asc() if flt.order == EventOrder.ASC else state.timestamp.desc()
    query = (
        sa.select(
            state.id, state.type, state.name, state.timestamp, state.message,
            run.id.label("run_id"), run.name.label("run_name"), run.run_count,
            run.flow_run_id, run.tags,
        )  # fmt: skip
        .join(run, run.id == state.task_run_id)
        .where(*where)
        .order_by(order, state.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [_event(row) for row in rows]


async def count_task_run_events(
    session: AsyncSession, workspace_id: uuid.UUID, flt: EventFilter
) -> int:
    where = _conditions(workspace_id, flt, session.sync_session.get_bind().dialect.name)
    if where is None:
        return 0
    state, run = orm.TaskRunState, orm.TaskRun
    query = (
        sa.select(sa.func.count())
        .select_from(state)
        .join(run, run.id == state.task_run_id)
        .where(*where)
    )
    return await session.scalar(query) or 0


async def count_task_run_events_by_value(
    session: AsyncSession, workspace_id: uuid.UUID, flt: EventFilter, by: str
) -> list[tuple[str, str, int, dt.datetime, dt.datetime]]:
    """(value, label, count, first, last) per event name (``by="event"``) or task run
    (``by="resource"``), the shape of ``queries.events.count_events_by_value``."""
    where = _conditions(workspace_id, flt, session.sync_session.get_bind().dialect.name)
    if where is None:
        return []
    state, run = orm.TaskRunState, orm.TaskRun
    keys: tuple[Any, ...] = (state.name,) if by == "event" else (run.id, run.name)
    rows = await session.execute(
        sa.select(
            *keys,
            sa.func.count(),
            sa.func.min(state.timestamp),
            sa.func.max(state.timestamp),
        )
        .select_from(state)
        .join(run, run.id == state.task_run_id)
        .where(*where)
        .group_by(*keys)
    )
    counts = []
    for row in rows:
        *key, count, first, last = tuple(row)
        if by == "event":
            value = label = f"{EVENT_PREFIX}{key[0]}"
        else:
            value, label = f"{RESOURCE_PREFIX}{key[0]}", key[1]
        counts.append((value, str(label), int(count), _aware(first), _aware(last)))
    return counts


async def count_task_run_events_by_bucket(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flt: EventFilter,
    base: dt.datetime,
    seconds: float,
) -> dict[int, int]:
    """How many task-run state events fall in each bucket (see ``count_events_by_bucket``)."""
    dialect = session.sync_session.get_bind().dialect.name
    where = _conditions(workspace_id, flt, dialect)
    if where is None:
        return {}
    state, run = orm.TaskRunState, orm.TaskRun
    index = bucket_index(state.timestamp, base, seconds, dialect)
    rows = await session.execute(
        sa.select(index, sa.func.count())
        .select_from(state)
        .join(run, run.id == state.task_run_id)
        .where(*where)
        .group_by(index)
    )
    return {int(bucket): int(count) for bucket, count in rows}


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _event(row: Any) -> core.Event:
    run = {"id": row.run_id, "name": row.run_name, "run_count": row.run_count,
           "flow_run_id": row.flow_run_id, "tags": row.tags}  # fmt: skip
    state = {"id": row.id, "type": row.type, "name": row.name, "timestamp": row.timestamp,
             "message": row.message}  # fmt: skip
    return state_event(run, state)


def merge(
    stored: Sequence[core.Event], derived: Sequence[core.Event], order: EventOrder, limit: int
) -> list[core.Event]:
    """Stored and derived events as one list in ``order``, at most ``limit``."""
    newest_first = order != EventOrder.ASC
    merged = sorted(
        [*stored, *derived], key=lambda e: (e.occurred, str(e.id)), reverse=newest_first
    )
    return merged[:limit]
