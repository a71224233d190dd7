"""Automations: their rows and the resources each is related to or owned by.

Filtering by tags happens after the SQL (tags are a JSON list, whose operators differ
between the dialects): a workspace holds thousands of automations at most, all read in
one statement, so the listing stays a single query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas.automations import AutomationFilter, AutomationSort
from flowyard.schemas.filters import Operator
from flowyard.server.database.orm_automations import Automation, AutomationRelatedResource
from flowyard.server.database.types import utcnow

SORTS: dict[str, tuple[Any, ...]] = {
    "CREATED_DESC": (Automation.created.desc(), Automation.id),
    "UPDATED_DESC": (Automation.updated.desc(), Automation.id),
    "NAME_ASC": (Automation.name, Automation.id),
    "NAME_DESC": (Automation.name.desc(), Automation.id),
}


async def create_automation(
    session: AsyncSession, workspace_id: uuid.UUID, values: dict[str, Any]
) -> Automation:
    row = Automation(id=uuid.uuid4(), workspace_id=workspace_id, **values)
    session.add(row)
    await session.flush()
    return row


async def read_automation(
    session: AsyncSession, workspace_id: uuid.UUID, automation_id: uuid.UUID, *, lock: bool = False
) -> Automation | None:
    query = sa.select(Automation).where(
        Automation.workspace_id == workspace_id, Automation.id == automation_id
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query.execution_options(populate_existing=True))


def _name_and_created(flt: AutomationFilter | None) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if flt is None:
        return conditions
    if flt.id is not None and flt.id.any_ is not None:
        conditions.append(Automation.id.in_(flt.id.any_))
    if flt.name is not None and flt.name.any_ is not None:
        conditions.append(Automation.name.in_(flt.name.any_))
    if flt.created is not None and flt.created.before_ is not None:
        conditions.append(Automation.created <= flt.created.before_)
    return conditions


def _tags_match(flt: AutomationFilter | None, tags: Sequence[str]) -> bool:
    if flt is None or flt.tags is None:
        return True
    spec = flt.tags
    parts: list[bool] = []
    if spec.all_ is not None:
        parts.append(all(tag in tags for tag in spec.all_))
    if spec.any_ is not None:
        parts.append(any(tag in tags for tag in spec.any_))
    if spec.is_null_ is not None:
        parts.append((not tags) == spec.is_null_)
    if not parts:
        return True
    return all(parts) if spec.operator == Operator.and_ else any(parts)


async def read_automations(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    flt: AutomationFilter | None,
    sort: AutomationSort = "NAME_ASC",
    limit: int | None = None,
    offset: int = 0,
) -> list[Automation]:
    conditions = _name_and_created(flt)
    if flt is not None and flt.operator == Operator.or_ and len(conditions) > 1:
        where: list[sa.ColumnElement[bool]] = [sa.or_(*conditions)]
    else:
        where = conditions
    query = (
        sa.select(Automation)
        .where(Automation.workspace_id == workspace_id, *where)
        .order_by(*SORTS[sort])
    )
    rows = [row for row in (await session.scalars(query)).all() if _tags_match(flt, row.tags)]
    end = None if limit is None else offset + limit
    return rows[offset:end]


async def count_automations(
    session: AsyncSession, workspace_id: uuid.UUID, flt: AutomationFilter | None
) -> int:
    if flt is None or flt.tags is None:
        conditions = _name_and_created(flt)
        if flt is not None and flt.operator == Operator.or_ and len(conditions) > 1:
            conditions = [sa.or_(*conditions)]
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Automation)
            .where(Automation.workspace_id == workspace_id, *conditions)
        )
        return int(count or 0)
    return len(await read_automations(session, workspace_id, flt))


async def update_automation(session: AsyncSession, row: Automation, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    row.updated = utcnow()
    await session.flush()


async def delete_automations(session: AsyncSession, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await session.execute(sa.delete(Automation).where(Automation.id.in_(ids)))


async def set_related_resources(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    automation_id: uuid.UUID,
    related: Iterable[str],
    owner: str | None,
) -> None:
    """Replace the automation's related resources: ``owner`` (owned by) and ``related``."""
    await session.execute(
        sa.delete(AutomationRelatedResource).where(
            AutomationRelatedResource.automation_id == automation_id
        )
    )
    rows: dict[str, bool] = dict.fromkeys(related, False)
    if owner:
        rows[owner] = True
    now = utcnow()
    if rows:
        await session.execute(
            sa.insert(AutomationRelatedResource),
            [
                {"id": uuid.uuid4(), "workspace_id": workspace_id, "automation_id": automation_id,
                 "resource_id": resource_id, "owned_by": owned, "created": now, "updated": now}
                for resource_id, owned in rows.items()
            ],
        )  # fmt: skip


async def read_related_automations(
    session: AsyncSession, workspace_id: uuid.UUID, resource_id: str, *, owned_only: bool = False
) -> list[Automation]:
    related = sa.select(AutomationRelatedResource.automation_id).where(
        AutomationRelatedResource.workspace_id == workspace_id,
        AutomationRelatedResource.resource_id == resource_id,
    )
    if owned_only:
        related = related.where(AutomationRelatedResource.owned_by.is_(True))
    query = (
        sa.select(Automation)
        .where(Automation.workspace_id == workspace_id, Automation.id.in_(related))
        .order_by(Automation.name, Automation.id)
    )
    return list((await session.scalars(query)).all())


async def read_enabled_automations(session: AsyncSession) -> list[Automation]:
    """Every enabled automation of every workspace: what the trigger engine evaluates."""
    query = sa.select(Automation).where(Automation.enabled.is_(True))
    return list((await session.scalars(query)).all())


async def latest_change(session: AsyncSession) -> tuple[int, Any]:
    """(number of automations, latest ``updated``): cheap to compare, to notice a change made
    by another server process."""
    row = (await session.execute(sa.select(sa.func.count(), sa.func.max(Automation.updated)))).one()
    return int(row[0]), row[1]
