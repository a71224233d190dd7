"""Compile API filters and sorts into SQL, for any table, by field and operator name.

A field filter named ``x`` applies to the ORM column ``x`` unless :data:`COLUMN_ALIASES`
says otherwise; each operator (``any_``, ``like_``, ``before_`` …) has one translation
below. JSON list columns (tags) get dialect-aware membership tests. The result is a list
of SQL conditions the caller puts in one ``WHERE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from flowyard.schemas.base import ActionModel
from flowyard.schemas.filters import FilterSet, Operator, TextFilter, filter_fields

Condition = ColumnElement[bool]

# Filter field names that are stored under another column name.
COLUMN_ALIASES: dict[str, str] = {}
# Nested filter groups whose fields map onto prefixed columns: state.type -> state_type.
NESTED_PREFIX = {"state": "state_"}


def _like(column: Any, text: str) -> Condition:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    condition: Condition = column.ilike(f"%{escaped}%", escape="\\")
    return condition


# Public name for other query modules: case-insensitive substring match, wildcards escaped.
like_condition = _like


def _json_plain(value: str) -> bool:
    # Printable ASCII without quote or backslash: every JSON encoder writes it as is.
    return all(" " <= char <= "~" and char not in '"\\' for char in value)


def json_list_contains(column: Any, value: str, dialect: str) -> Condition:
    """True when the JSON array in ``column`` contains the string ``value``."""
    if dialect == "postgresql":
        return column.op("?")(value)  # type: ignore[no-any-return]
    each = sa.func.json_each(column).table_valued("value")
    exact = sa.exists(sa.select(1).select_from(each).where(each.c.value == value))
    if not _json_plain(value):
        return exact
    # SQLite has no index on list members, so this is a scan. A plain substring test on the
    # stored text (the tag in quotes) rules out almost every row for a fraction of the cost
    # of opening json_each on it; the exact test then runs on the few left. ``likelihood``
    # tells the planner the filter is selective, so that it scans and sorts the matches
    # rather than walking an index in sort order through rows that fail it.
    quoted = sa.func.instr(column, f'"{value}"') > 0
    return sa.and_(sa.func.likelihood(quoted, sa.literal_column("0.01")), exact)


def flow_run_tag_conditions(run: Any, flt: Any, dialect: str) -> list[Condition]:
    """A flow run ``tags`` filter. On SQLite, membership is looked up in the tag table
    (``database.sqlite_schema``) by index instead of testing every run's JSON list."""
    if dialect != "sqlite":
        return _tags(run.tags, flt, dialect)
    from flowyard.server.database.sqlite_schema import flow_run_tag

    def tagged(tags: list[str]) -> Condition:
        runs = sa.select(flow_run_tag.c.run_id).where(flow_run_tag.c.tag.in_(tags))
        condition: Condition = run.id.in_(runs)
        return condition

    out: list[Condition] = []
    if flt.all_:
        out.extend(tagged([tag]) for tag in flt.all_)
    if flt.any_:
        out.append(tagged(list(flt.any_)))
    if flt.is_null_ is not None:
        out.extend(_tags(run.tags, type(flt)(is_null_=flt.is_null_), dialect))
    return out


def _tags(column: Any, flt: Any, dialect: str) -> list[Condition]:
    out: list[Condition] = []
    if flt.all_:
        out.extend(json_list_contains(column, tag, dialect) for tag in flt.all_)
    if flt.any_:
        out.append(sa.or_(*(json_list_contains(column, tag, dialect) for tag in flt.any_)))
    if flt.is_null_ is not None:
        empty = sa.or_(column.is_(None), sa.func.json_array_length(column) == 0)
        if dialect == "postgresql":
            empty = sa.or_(column.is_(None), sa.func.jsonb_array_length(column) == 0)
        out.append(empty if flt.is_null_ else sa.not_(empty))
    return out


OPERATORS: dict[str, Callable[[Any, Any], Condition]] = {
    "any_": lambda c, v: c.in_(v),
    "not_any_": lambda c, v: sa.or_(c.not_in(v), c.is_(None)),
    "like_": _like,
    # sa.false() first: an empty list of prefixes matches nothing (a bare ``or_()`` of
    # nothing is deprecated, and was a 500 under warnings-as-errors).
    "startswith_": lambda c, v: sa.or_(
        sa.false(),
        *(c.istartswith(prefix, autoescape=True) for prefix in ([v] if isinstance(v, str) else v)),
    ),
    "is_null_": lambda c, v: c.is_(None) if v else c.is_not(None),
    "before_": lambda c, v: c <= v,
    "after_": lambda c, v: c >= v,
    "ge_": lambda c, v: c >= v,
    "le_": lambda c, v: c <= v,
    "eq_": lambda c, v: c == v,
    "exists_": lambda c, v: c.is_not(None) if v else c.is_(None),
}


def compile_filter(
    flt: FilterSet | None,
    table: Any,
    dialect: str,
    *,
    special: dict[str, Callable[[Any], list[Condition]]] | None = None,
    prefix: str = "",
) -> list[Condition]:
    """Conditions for one resource filter, already joined by its operator (0 or 1 item)."""
    if flt is None:
        return []
    special = special or {}
    parts: list[Condition] = []
    for name, field_filter in filter_fields(flt).items():
        if name in special:
            parts.extend(special[name](field_filter))
            continue
        if name in NESTED_PREFIX and isinstance(field_filter, FilterSet):
            parts.extend(
                compile_filter(field_filter, table, dialect, prefix=prefix + NESTED_PREFIX[name])
            )
            continue
        column = getattr(table, COLUMN_ALIASES.get(prefix + name, prefix + name))
        if name == "tags":
            parts.extend(_tags(column, field_filter, dialect))
            continue
        if isinstance(field_filter, TextFilter):
            parts.append(_like(column, field_filter.query))
            continue
        parts.extend(_field_conditions(column, field_filter))
    if not parts:
        return []
    joined = sa.or_(*parts) if flt.operator == Operator.or_ else sa.and_(*parts)
    return [joined]


def _field_conditions(column: Any, field_filter: ActionModel) -> list[Condition]:
    out: list[Condition] = []
    for op in field_filter.model_fields_set:
        value = getattr(field_filter, op)
        if value is None or op == "operator":
            continue
        out.append(OPERATORS[op](column, value))
    # A field filter may join its own operators with ``or_`` (Prefect allows it on a few).
    if len(out) > 1 and getattr(field_filter, "operator", None) == Operator.or_:
        return [sa.or_(*out)]
    return out


# Public name for query modules that filter one column by a field filter (subqueries).
field_conditions = _field_conditions
