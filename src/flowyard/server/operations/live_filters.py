"""Event and log filters applied to one object in memory, for the live streams.

``/events/out`` and ``/logs/out`` send each new event or log that matches the subscriber's
filter; the stored ones are found by the same filters compiled to SQL
(``queries.events.event_conditions``, ``queries.logs.log_conditions``). The two must agree,
so the rules here follow those compilers line by line: every part given must match; a
label value is an exact string, ``"*"`` (any value) or ``"prefix*"``, or a list of those;
``text`` is a case-insensitive substring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowyard.schemas import core
from flowyard.schemas.filters import (
    EventAnyResourceFilter,
    EventFilter,
    EventRelatedFilter,
    LogFilter,
    Operator,
)

ID = "prefect.resource.id"
ROLE = "prefect.resource.role"


def _label_matches(value: str | None, expected: Any) -> bool:
    for option in expected if isinstance(expected, list) else [expected]:
        text = str(option)
        if text == "*":
            if value is not None:
                return True
        elif text.endswith("*"):
            if value is not None and value.startswith(text[:-1]):
                return True
        elif value == text:
            return True
    return False


def _labels_match(labels: Mapping[str, str], expected: Mapping[str, Any] | None) -> bool:
    return all(_label_matches(labels.get(k), v) for k, v in (expected or {}).items())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _related_matches(flt: EventRelatedFilter, entry: Mapping[str, str]) -> bool:
    # Every part must hold for the same related entry (as the SQL ``EXISTS`` does).
    if flt.id and entry.get(ID) not in flt.id:
        return False
    if flt.role and entry.get(ROLE) not in flt.role:
        return False
    if flt.resources_in_roles and not any(
        entry.get(ID) == resource_id and entry.get(ROLE) == role
        for resource_id, role in flt.resources_in_roles
    ):
        return False
    return _labels_match(entry, flt.labels)


def _any_resource_matches(flt: EventAnyResourceFilter, event: core.Event) -> bool:
    resources: list[Mapping[str, str]] = [event.resource, *event.related]
    ids = [r.get(ID, "") for r in resources]
    if flt.id and not any(i in flt.id for i in ids):
        return False
    if flt.id_prefix and not any(i.startswith(p) for i in ids for p in flt.id_prefix):
        return False
    return all(
        any(_label_matches(r.get(label), expected) for r in resources)
        for label, expected in (flt.labels or {}).items()
    )


def event_matches(flt: EventFilter, event: core.Event) -> bool:
    """True when ``event`` is one that ``flt`` selects."""
    if not flt.occurred.since <= event.occurred <= flt.occurred.until:
        return False
    name = event.event
    if flt.event is not None:
        names = flt.event
        if names.prefix and not any(name.startswith(p) for p in names.prefix):
            return False
        if any(name.startswith(p) for p in names.exclude_prefix or ()):
            return False
        if names.name and name not in names.name:
            return False
        if names.exclude_name and name in names.exclude_name:
            return False
    resource_id = event.resource.get(ID, "")
    if flt.resource is not None:
        resource = flt.resource
        if resource.id and resource_id not in resource.id:
            return False
        if resource.id_prefix and not any(resource_id.startswith(p) for p in resource.id_prefix):
            return False
        if not _labels_match(event.resource, resource.labels):
            return False
    for related in _as_list(flt.related):
        if not any(_related_matches(related, entry) for entry in event.related):
            return False
    if not all(_any_resource_matches(f, event) for f in _as_list(flt.any_resource)):
        return False
    if flt.id.id and event.id not in flt.id.id:
        return False
    if flt.text is not None:
        query = flt.text.query.lower()
        if query not in name.lower() and query not in resource_id.lower():
            return False
    return True


def _all_or_any(parts: Iterable[bool], operator: Operator) -> bool:
    return all(parts) if operator == Operator.and_ else any(parts)


def log_matches(flt: LogFilter | None, log: core.Log) -> bool:
    """True when ``log`` is one that ``flt`` selects (its fields joined by ``operator``)."""
    if flt is None:
        return True
    parts: list[bool] = []
    if flt.level is not None:
        level = flt.level
        parts.append(
            (level.ge_ is None or log.level >= level.ge_)
            and (level.le_ is None or log.level <= level.le_)
            and (level.eq_ is None or log.level == level.eq_)
        )
    if flt.timestamp is not None:
        when = flt.timestamp
        parts.append(
            (when.before_ is None or log.timestamp <= when.before_)
            and (when.after_ is None or log.timestamp >= when.after_)
            and not when.is_null_
        )
    if flt.flow_run_id is not None:
        ids = flt.flow_run_id
        parts.append(
            (ids.any_ is None or log.flow_run_id in ids.any_)
            and (ids.not_any_ is None or log.flow_run_id not in ids.not_any_)
        )
    if flt.task_run_id is not None:
        tasks = flt.task_run_id
        parts.append(
            (tasks.any_ is None or log.task_run_id in tasks.any_)
            and (tasks.not_any_ is None or log.task_run_id not in tasks.not_any_)
            and (tasks.is_null_ is None or (log.task_run_id is None) == tasks.is_null_)
        )
    if flt.text is not None:
        parts.append(flt.text.query.lower() in log.message.lower())
    return _all_or_any(parts, flt.operator) if parts else True
