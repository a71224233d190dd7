"""Saved searches: the named filter sets Prefect's UI keeps per workspace.

The contract names no lifecycle events for them: they are the UI's preferences, not
objects that automations act on.
"""

from __future__ import annotations

import uuid

from flowyard.schemas.saved_searches import SavedSearch, SavedSearchCreate
from flowyard.server.errors import NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import saved_searches as queries

READ = permission("read", "saved_search")
CREATE = permission("create", "saved_search")
DELETE = permission("delete", "saved_search")
NOT_FOUND = "Saved search not found."


@operation(CREATE, writes=True)
async def create_saved_search(tx: Tx, saved_search: SavedSearchCreate) -> tuple[SavedSearch, bool]:
    """``PUT /saved_searches/``: the search, and whether it is new (a search of that name
    has its filters replaced)."""
    filters = [item.model_dump(mode="json") for item in saved_search.filters]
    row, created = await queries.upsert_saved_search(
        tx.session, tx.workspace_id, saved_search.name, filters
    )
    return SavedSearch.from_row(row), created


@operation(READ)
async def read_saved_search(tx: Tx, saved_search_id: uuid.UUID) -> SavedSearch:
    row = await queries.read_saved_search(tx.session, tx.workspace_id, saved_search_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return SavedSearch.from_row(row)


@operation(READ)
async def read_saved_searches(tx: Tx, limit: int | None, offset: int = 0) -> list[SavedSearch]:
    rows = await queries.read_saved_searches(tx.session, tx.workspace_id, limit, offset)
    return [SavedSearch.from_row(row) for row in rows]


@operation(DELETE, writes=True)
async def delete_saved_search(tx: Tx, saved_search_id: uuid.UUID) -> None:
    if not await queries.delete_saved_search(tx.session, tx.workspace_id, saved_search_id):
        raise NotFound(NOT_FOUND)
