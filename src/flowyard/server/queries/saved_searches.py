"""Saved searches: named filter sets, unique by name in a workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database.orm_saved_searches import SavedSearch
from flowyard.server.database.types import utcnow
from flowyard.server.queries.upsert import insert_or_update


async def upsert_saved_search(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, filters: list[dict[str, Any]]
) -> tuple[SavedSearch, bool]:
    """The search of that name with these filters (replacing its filters if it existed),
    and whether this call created it."""
    new_id = uuid.uuid4()
    now = utcnow()
    values = {
        "id": new_id, "workspace_id": workspace_id, "name": name, "filters": filters,
        "created": now, "updated": now,
    }  # fmt: skip
    await session.execute(
        insert_or_update(
            session, SavedSearch, values, ["workspace_id", "name"], ["filters", "updated"]
        )
    )
    row = await session.scalar(
        sa.select(SavedSearch)
        .where(SavedSearch.workspace_id == workspace_id, SavedSearch.name == name)
        .execution_options(populate_existing=True)
    )
    assert row is not None, "inserted or updated just now"
    return row, row.id == new_id


async def read_saved_search(
    session: AsyncSession, workspace_id: uuid.UUID, saved_search_id: uuid.UUID
) -> SavedSearch | None:
    return await session.scalar(
        sa.select(SavedSearch).where(
            SavedSearch.workspace_id == workspace_id, SavedSearch.id == saved_search_id
        )
    )


async def read_saved_searches(
    session: AsyncSession, workspace_id: uuid.UUID, limit: int | None, offset: int = 0
) -> Sequence[SavedSearch]:
    query = (
        sa.select(SavedSearch)
        .where(SavedSearch.workspace_id == workspace_id)
        .order_by(SavedSearch.name, SavedSearch.id)
        .limit(limit)
        .offset(offset)
    )
    return (await session.scalars(query)).all()


async def delete_saved_search(
    session: AsyncSession, workspace_id: uuid.UUID, saved_search_id: uuid.UUID
) -> bool:
    result = await session.execute(
        sa.delete(SavedSearch).where(
            SavedSearch.workspace_id == workspace_id, SavedSearch.id == saved_search_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
