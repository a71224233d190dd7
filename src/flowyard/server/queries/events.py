"""Events: bulk insert (duplicates ignored) and filtered, paged reads.

Filters compile to one statement. Related resources are matched element by element inside
the JSON ``related`` list (``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL),
so that "this id in that role" means the same related entry, not two different ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import core
from flowyard.schemas.filters import (
    EventAnyResourceFilter,
    EventFilter,
    EventOrder,
    EventRelatedFilter,
)
from flowyard.server.database import orm
from flowyard.server.database.types import Timestamp
from flowyard.server.queries.filtering import Condition, json_list_contains, like_condition
from flowyard.server.queries.upsert import dialect_insert

ID_LABEL = "prefect.resource.id"
ROLE_LABEL = "prefect.resource.role"
EVENT_TABLE = cast(sa.Table, orm.Event.__table__)


def event_row(workspace_id: uuid.UUID, event: core.Event, received: dt.datetime) -> dict[str, Any]:
    related = [dict(r) for r in event.related]
    return {
        "id": event.id,
        "workspace_id": workspace_id,
        "occurred": event.occurred,
        "received": event.received or received,
        "event": event.event,
        "resource_id": event.resource[ID_LABEL],
        "resource": dict(event.resource),
        "related": related,
        "related_resource_ids": [r[ID_LABEL] for r in related if ID_LABEL in r],
        "payload": event.payload,
        "follows": event.follows,
    }


async def create_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (from :func:`event_row`); an id already stored is skipped."""
    if rows:
        stmt = dialect_insert(session, EVENT_TABLE).on_conflict_do_nothing(index_elements=["id"])
        await session.execute(stmt, list(rows))


# --- filtering ---------------------------------------------------------------------------


def label_matches(value_expr: Any, expected: Any) -> Condition:
    """A label spec value: a string (``*`` suffix = prefix match) or a list of them."""
    values = expected if isinstance(expected, list) else [expected]
    parts: list[Condition] = []
    for value in values:
        text = str(value)
        if text == "*":
            parts.append(value_expr.is_not(None))
        elif text.endswith("*"):
            parts.append(value_expr.startswith(text[:-1], autoescape=True))
        else:
            parts.append(value_expr == text)
    # sa.false() first: an empty list of values matches nothing (a bare ``or_()`` is
    # deprecated, and was a 500 under warnings-as-errors; found by the contract test).
    return sa.or_(sa.false(), *parts)


def _starts_with_any(column: Any, prefixes: Sequence[str]) -> Condition:
    return sa.or_(sa.false(), *(column.startswith(prefix, autoescape=True) for prefix in prefixes))


def _json_label(column: Any, label: str) -> Any:
    return column[label].as_string()


def _related_elements(dialect: str) -> Any:
    """A table-valued function over the ``related`` JSON list, one row per entry."""
    if dialect == "postgresql":
        return sa.func.jsonb_array_elements(orm.Event.related).table_valued("value")
    return sa.func.json_each(orm.Event.related).table_valued("value")


def _element_label(element: Any, label: str, dialect: str) -> Any:
    if dialect == "postgresql":
        return element.c.value.op("->>")(label)
    return sa.func.json_extract(element.c.value, f'$."{label}"')


def _related_condition(flt: EventRelatedFilter, dialect: str) -> Condition | None:
    element = _related_elements(dialect)
    parts: list[Condition] = []
    if flt.id:
        parts.append(_element_label(element, ID_LABEL, dialect).in_(flt.id))
    if flt.role:
        parts.append(_element_label(element, ROLE_LABEL, dialect).in_(flt.role))
    if flt.resources_in_roles:
        parts.append(
            sa.or_(
                *(
                    sa.and_(
                        _element_label(element, ID_LABEL, dialect) == resource_id,
                        _element_label(element, ROLE_LABEL, dialect) == role,
                    )
                    for resource_id, role in flt.resources_in_roles
                )
            )
        )
    for label, expected in (flt.labels or {}).items():
        parts.append(label_matches(_element_label(element, label, dialect), expected))
    if not parts:
        return None
    return sa.exists(sa.select(1).select_from(element).where(*parts))


def _any_resource_condition(flt: EventAnyResourceFilter, dialect: str) -> Condition | None:
    parts: list[Condition] = []
    if flt.id:
        parts.append(
            sa.or_(
                orm.Event.resource_id.in_(flt.id),
                *(json_list_contains(orm.Event.related_resource_ids, i, dialect) for i in flt.id),
            )
        )
    if flt.id_prefix:
        element = _related_elements(dialect)
        related_id = _element_label(element, ID_LABEL, dialect)
        parts.append(
            sa.or_(
                _starts_with_any(orm.Event.resource_id, flt.id_prefix),
                sa.exists(
                    sa.select(1)
                    .select_from(element)
                    .where(_starts_with_any(related_id, flt.id_prefix))
                ),
            )
        )
    for label, expected in (flt.labels or {}).items():
        element = _related_elements(dialect)
        parts.append(
            sa.or_(
                label_matches(_json_label(orm.Event.resource, label), expected),
                sa.exists(
                    sa.select(1)
                    .select_from(element)
                    .where(label_matches(_element_label(element, label, dialect), expected))
                ),
            )
        )
    return sa.and_(*parts) if parts else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def event_conditions(
    workspace_id: uuid.UUID, flt: EventFilter, dialect: str
) -> list[Condition]:
    out: list[Condition] = [
        orm.Event.workspace_id == workspace_id,
        orm.Event.occurred >= flt.occurred.since,
        orm.Event.occurred <= flt.occurred.until,
    ]
    if flt.event:
        names = flt.event
        if names.prefix:
            out.append(_starts_with_any(orm.Event.event, names.prefix))
        for prefix in names.exclude_prefix or []:
            out.append(sa.not_(orm.Event.event.startswith(prefix, autoescape=True)))
        if names.name:
            out.append(orm.Event.event.in_(names.name))
        if names.exclude_name:
            out.append(orm.Event.event.not_in(names.exclude_name))
    if flt.resource:
        resource = flt.resource
        if resource.id:
            out.append(orm.Event.resource_id.in_(resource.id))
        if resource.id_prefix:
            out.append(_starts_with_any(orm.Event.resource_id, resource.id_prefix))
        for label, expected in (resource.labels or {}).items():
            out.append(label_matches(_json_label(orm.Event.resource, label), expected))
    for related in _as_list(flt.related):
        condition = _related_condition(related, dialect)
        if condition is not None:
            out.append(condition)
    for any_resource in _as_list(flt.any_resource):
        condition = _any_resource_condition(any_resource, dialect)
        if condition is not None:
            out.append(condition)
    if flt.id.id:
        out.append(orm.Event.id.in_(flt.id.id))
    if flt.text:
        out.append(
            sa.or_(
                like_condition(orm.Event.event, flt.text.query),
                like_condition(orm.Event.resource_id, flt.text.query),
            )
        )
    return out


async def read_events(
    session: AsyncSession,
    conditions: Sequence[Condition],
    order: EventOrder = EventOrder.DESC,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[orm.Event]:
    direction = sa.desc if order == EventOrder.DESC else sa.asc
    ordering = (direction(orm.Event.occurred), direction(orm.Event.id))
    query = sa.select(orm.Event).where(*conditions).order_by(*ordering)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_events(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(orm.Event).where(*conditions)
    return await session.scalar(query) or 0


# --- counting ----------------------------------------------------------------------------


async def count_events_by_value(
    session: AsyncSession, conditions: Sequence[Condition], by: str
) -> list[tuple[str, str, int, dt.datetime, dt.datetime]]:
    """(value, label, count, first occurred, last occurred) per event name (``by="event"``)
    or resource id (``by="resource"``), most frequent first. A resource's label is its name
    in the most recent of its events (names change; the id does not)."""
    if by == "event":
        value: Any = orm.Event.event
        label: Any = orm.Event.event
    else:
        value = orm.Event.resource_id
        label = sa.func.coalesce(
            _json_label(orm.Event.resource, "prefect.resource.name"),
            _json_label(orm.Event.resource, "prefect.name"),
            orm.Event.resource_id,
        )
    rows = await session.execute(
        sa.select(
            value.label("value"),
            label.label("label"),
            sa.func.count().label("count"),
            sa.func.min(orm.Event.occurred).label("oldest"),
            sa.func.max(orm.Event.occurred).label("latest"),
        )
        .where(*conditions)
        .group_by(value, label)
    )
    merged: dict[str, list[Any]] = {}
    for key, name, count, oldest, latest in rows:
        found = merged.get(key)
        if found is None:
            merged[key] = [key, name, count, oldest, latest, latest]
            continue
        if latest > found[5]:
            found[1], found[5] = name, latest
        found[2] += count
        found[3] = min(found[3], oldest)
        found[4] = max(found[4], latest)
    counts = [(k, str(n), int(c), o, last) for k, n, c, o, last, _ in merged.values()]
    counts.sort(key=lambda item: (-item[2], item[1]))
    return counts


def bucket_index(column: Any, base: dt.datetime, seconds: float, dialect: str) -> Any:
    """SQL for the index of the ``seconds``-long bucket, counted from ``base``, that the
    timestamp ``column`` falls in (``column >= base``)."""
    at = sa.literal(base, Timestamp())
    if dialect == "postgresql":
        elapsed: Any = sa.func.extract("epoch", column - at)
        index: Any = sa.cast(sa.func.floor(elapsed / seconds), sa.Integer)
    else:
        # Never negative (occurred >= base), so truncating is flooring. julianday's double
        # is exact to about 10 microseconds: the nudge keeps an event on a boundary in the
        # bucket it starts.
        days = sa.func.julianday(column) - sa.func.julianday(at)
        elapsed = days * 86400.0 + 0.0001
        index = sa.cast(elapsed / seconds, sa.Integer)
    return index


async def count_events_by_bucket(
    session: AsyncSession,
    conditions: Sequence[Condition],
    base: dt.datetime,
    seconds: float,
    dialect: str,
) -> dict[int, int]:
    """How many events fall in each ``seconds``-long bucket counted from ``base`` (events
    before ``base`` must be filtered out by ``conditions``): bucket index -> count."""
    index = bucket_index(orm.Event.occurred, base, seconds, dialect)
    rows = await session.execute(
        sa.select(index.label("bucket"), sa.func.count()).where(*conditions).group_by(index)
    )
    return {int(bucket): int(count) for bucket, count in rows}
