"""Flow runs a page at a time by keyset: "the runs after this one in this order".

Offsets make page 2,000 of a hundred thousand runs read and discard the first 99,950; a
keyset page reads only its own rows whichever page it is, and a run inserted while someone
pages never shifts the next page. Each order is a sort key and the id (which breaks ties),
both in one direction, so "after" is one row-value comparison on both dialects. Sort keys
never hold NULL (a run not started yet sorts by when it is expected, then by its creation),
since NULL compares as unknown and would drop rows from every later page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm
from flowyard.server.database.orm_deployments import Deployment
from flowyard.server.database.orm_work_pools import WorkPool
from flowyard.server.queries.filtering import Condition
from flowyard.server.queries.flow_runs import FlowRunWithState, read_flow_runs_selected


class FlowRunOrder(StrEnum):
    START_DESC = "start_desc"
    START_ASC = "start_asc"
    EXPECTED_START_DESC = "expected_start_desc"
    EXPECTED_START_ASC = "expected_start_asc"
    NAME_ASC = "name_asc"
    NAME_DESC = "name_desc"
    DURATION_DESC = "duration_desc"
    DURATION_ASC = "duration_asc"


_run = orm.FlowRun
_KEYS: dict[str, Any] = {
    "start": sa.func.coalesce(_run.start_time, _run.expected_start_time, _run.created),
    "expected_start": sa.func.coalesce(_run.expected_start_time, _run.created),
    "name": _run.name,
    "duration": _run.total_run_time,
}


def order_key(order: FlowRunOrder) -> tuple[Any, bool]:
    """The order's sort-key expression and whether it descends."""
    field, direction = order.value.rsplit("_", 1)
    return _KEYS[field], direction == "desc"


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page ends: its last run's sort key and id (the next page starts after it)."""

    key: dt.datetime | str | float
    id: uuid.UUID


async def read_flow_run_keyset_page(
    session: AsyncSession,
    conditions: Sequence[Condition],
    order: FlowRunOrder,
    after: Keyset | None,
    limit: int,
) -> tuple[list[FlowRunWithState], Keyset | None]:
    """Up to ``limit`` runs after ``after``, and the keyset of the next page (None at the end)."""
    key, descending = order_key(order)
    where = list(conditions)
    if after is not None:
        mark = sa.tuple_(
            sa.bindparam(None, after.key, type_=key.type),
            sa.bindparam(None, after.id, type_=_run.id.type),
        )
        row_key = sa.tuple_(key, _run.id)
        where.append(row_key < mark if descending else row_key > mark)
    order_by = [key.desc(), _run.id.desc()] if descending else [key.asc(), _run.id.asc()]
    # One more than the page: whether a next page exists, without counting.
    selection = (
        sa.select(_run.id.label("id"), key.label("key"))
        .where(*where)
        .order_by(*order_by)
        .limit(limit + 1)
        .subquery()
    )
    in_order = (
        [selection.c.key.desc(), selection.c.id.desc()]
        if descending
        else [selection.c.key.asc(), selection.c.id.asc()]
    )
    rows = await read_flow_runs_selected(
        session, selection, in_order, extra=[selection.c.key, selection.c.id]
    )
    page = [row[:-2] for row in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = rows[limit - 1]
    return page, Keyset(key=last[-2], id=last[-1])


async def read_filter_choices(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int
) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """(id, name) of the flows, deployments and work pools a run list can be filtered by,
    by name: the filter form's choices, without loading whole rows."""
    choices: dict[str, list[tuple[uuid.UUID, str]]] = {}
    for key, table in (("flows", orm.Flow), ("deployments", Deployment), ("pools", WorkPool)):
        rows = await session.execute(
            sa.select(table.id, table.name)
            .where(table.workspace_id == workspace_id)
            .order_by(table.name)
            .limit(limit)
        )
        choices[key] = [(row.id, row.name) for row in rows]
    return choices
