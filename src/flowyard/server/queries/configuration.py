"""Settings kept in the database (the ``configuration`` table, one JSON value per key).

Keys of workspace settings end with the workspace id, so one workspace never reads
another's (the table itself is install-wide).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.server.database import orm
from flowyard.server.database.orm_blocks import BlockDocument, BlockSchema
from flowyard.server.database.types import new_id, utcnow
from flowyard.server.queries.upsert import insert_or_update

DEFAULT_RESULT_STORAGE = "server-default-result-storage"


def workspace_key(key: str, workspace_id: uuid.UUID) -> str:
    return f"{key}:{workspace_id}"


async def read_configuration(session: AsyncSession, key: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = await session.scalar(
        sa.select(orm.Configuration.value).where(orm.Configuration.key == key)
    )
    return value


async def write_configuration(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    now = utcnow()
    row = {"id": new_id(), "created": now, "updated": now, "key": key, "value": value}
    await session.execute(
        insert_or_update(session, orm.Configuration, row, ["key"], ["value", "updated"])
    )


async def delete_configuration(session: AsyncSession, key: str) -> bool:
    result = await session.execute(
        sa.delete(orm.Configuration).where(orm.Configuration.key == key)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def block_document_capabilities(
    session: AsyncSession, workspace_id: uuid.UUID, block_document_id: uuid.UUID
) -> list[str] | None:
    """The capabilities of a block document's schema; None if there is no such document
    in the workspace."""
    row = (
        await session.execute(
            sa.select(BlockSchema.capabilities)
            .join(BlockDocument, BlockDocument.block_schema_id == BlockSchema.id)
            .where(
                BlockDocument.workspace_id == workspace_id, BlockDocument.id == block_document_id
            )
        )
    ).first()
    return None if row is None else list(row[0] or [])


async def ping(session: AsyncSession) -> None:
    """Raises when the database cannot answer."""
    await session.execute(sa.text("SELECT 1"))
