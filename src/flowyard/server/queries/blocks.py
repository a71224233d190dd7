"""Block types and block schemas. Block documents are in ``queries/block_documents.py``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import blocks as schemas
from flowyard.server.database.orm_blocks import (
    BlockDocument,
    BlockDocumentReference,
    BlockSchema,
    BlockType,
)
from flowyard.server.queries.filtering import Condition, compile_filter, json_list_contains
from flowyard.server.queries.upsert import dialect_insert

# The descriptive fields of a block type (all but its name and slug).
METADATA = ("logo_url", "documentation_url", "description", "code_example")

# --- block types -------------------------------------------------------------------------


async def create_block_type(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    block_type: schemas.BlockTypeCreate,
    *,
    is_protected: bool = False,
) -> BlockType | None:
    """The new block type, or None when its slug or name is taken."""
    new_id = uuid.uuid4()
    values = dict(
        block_type.model_dump(), id=new_id, workspace_id=workspace_id, is_protected=is_protected
    )
    # No conflict target: a taken slug and a taken name are both "already exists".
    await session.execute(
        dialect_insert(session, BlockType).values(values).on_conflict_do_nothing()
    )
    row = await read_block_type_by_slug(session, workspace_id, block_type.slug)
    return row if row is not None and row.id == new_id else None


async def protect_block_type(
    session: AsyncSession, workspace_id: uuid.UUID, block_type: schemas.BlockTypeCreate
) -> BlockType | None:
    """Mark the type of ``block_type``'s slug built in, with its description and links (a
    type registered by an older release, or by a client before this server knew it as
    built in). None when there is no type of that slug: a user's type took its name."""
    metadata = block_type.model_dump(include={*METADATA})
    await session.execute(
        sa.update(BlockType)
        .where(BlockType.workspace_id == workspace_id, BlockType.slug == block_type.slug)
        .values(**metadata, is_protected=True)
    )
    return await read_block_type_by_slug(session, workspace_id, block_type.slug)


async def count_block_schemas_with_checksums(
    session: AsyncSession, workspace_id: uuid.UUID, checksums: Sequence[str]
) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(BlockSchema)
        .where(BlockSchema.workspace_id == workspace_id, BlockSchema.checksum.in_(checksums))
    )
    return count or 0


async def read_block_type(
    session: AsyncSession, workspace_id: uuid.UUID, block_type_id: uuid.UUID
) -> BlockType | None:
    return await session.scalar(
        sa.select(BlockType).where(
            BlockType.workspace_id == workspace_id, BlockType.id == block_type_id
        )
    )


async def read_block_type_by_slug(
    session: AsyncSession, workspace_id: uuid.UUID, slug: str
) -> BlockType | None:
    return await session.scalar(
        sa.select(BlockType).where(BlockType.workspace_id == workspace_id, BlockType.slug == slug)
    )


def block_schema_conditions(
    workspace_id: uuid.UUID, flt: schemas.BlockSchemaFilter | None, dialect: str
) -> list[Condition]:
    def capabilities(field: schemas.CapabilitiesFilter) -> list[Condition]:
        return [
            json_list_contains(BlockSchema.capabilities, name, dialect) for name in field.all_ or []
        ]

    return [
        BlockSchema.workspace_id == workspace_id,
        *compile_filter(flt, BlockSchema, dialect, special={"block_capabilities": capabilities}),
    ]


def block_type_conditions(
    workspace_id: uuid.UUID,
    type_filter: schemas.BlockTypeFilter | None,
    schema_filter: schemas.BlockSchemaFilter | None,
    dialect: str,
) -> list[Condition]:
    conditions = [BlockType.workspace_id == workspace_id]
    conditions += compile_filter(type_filter, BlockType, dialect)
    if schema_filter is not None:
        having = sa.select(BlockSchema.block_type_id).where(
            *block_schema_conditions(workspace_id, schema_filter, dialect)
        )
        conditions.append(BlockType.id.in_(having))
    return conditions


async def read_block_types(
    session: AsyncSession, conditions: Sequence[Condition], limit: int | None, offset: int = 0
) -> Sequence[BlockType]:
    query = sa.select(BlockType).where(*conditions).order_by(BlockType.name, BlockType.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_block_type(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    block_type_id: uuid.UUID,
    update: schemas.BlockTypeUpdate,
) -> None:
    values = update.model_dump(exclude_unset=True)
    if values:
        await session.execute(
            sa.update(BlockType)
            .where(BlockType.workspace_id == workspace_id, BlockType.id == block_type_id)
            .values(**values)
        )


async def delete_block_type(
    session: AsyncSession, workspace_id: uuid.UUID, block_type_id: uuid.UUID
) -> None:
    # Children first, whatever the dialect does with cascades: the references its documents
    # hold, then the documents and schemas.
    documents = sa.select(BlockDocument.id).where(
        BlockDocument.workspace_id == workspace_id, BlockDocument.block_type_id == block_type_id
    )
    await session.execute(
        sa.delete(BlockDocumentReference).where(
            BlockDocumentReference.workspace_id == workspace_id,
            BlockDocumentReference.parent_block_document_id.in_(documents),
        )
    )
    for table in (BlockDocument, BlockSchema):
        await session.execute(
            sa.delete(table).where(
                table.workspace_id == workspace_id, table.block_type_id == block_type_id
            )
        )
    await session.execute(
        sa.delete(BlockType).where(
            BlockType.workspace_id == workspace_id, BlockType.id == block_type_id
        )
    )


# --- block schemas -----------------------------------------------------------------------


async def create_block_schema(
    session: AsyncSession, workspace_id: uuid.UUID, block_schema: schemas.BlockSchemaCreate
) -> tuple[BlockSchema, bool]:
    """The schema with these fields and version, and whether this call created it."""
    checksum = schemas.schema_checksum(block_schema.fields)
    new_id = uuid.uuid4()
    values = dict(
        block_schema.model_dump(), id=new_id, workspace_id=workspace_id, checksum=checksum
    )
    insert = dialect_insert(session, BlockSchema).values(values)
    await session.execute(
        insert.on_conflict_do_nothing(index_elements=["workspace_id", "checksum", "version"])
    )
    row = await read_block_schema_by_checksum(session, workspace_id, checksum, block_schema.version)
    assert row is not None, "inserted or already there"
    return row, row.id == new_id


async def read_block_schema(
    session: AsyncSession, workspace_id: uuid.UUID, block_schema_id: uuid.UUID
) -> BlockSchema | None:
    return await session.scalar(
        sa.select(BlockSchema).where(
            BlockSchema.workspace_id == workspace_id, BlockSchema.id == block_schema_id
        )
    )


async def read_block_schema_by_checksum(
    session: AsyncSession, workspace_id: uuid.UUID, checksum: str, version: str | None = None
) -> BlockSchema | None:
    """The schema with ``checksum`` (and ``version``); the newest when no version is given."""
    query = sa.select(BlockSchema).where(
        BlockSchema.workspace_id == workspace_id, BlockSchema.checksum == checksum
    )
    if version is not None:
        query = query.where(BlockSchema.version == version)
    query = query.order_by(BlockSchema.created.desc(), BlockSchema.id).limit(1)
    return await session.scalar(query)


async def read_block_schemas(
    session: AsyncSession, conditions: Sequence[Condition], limit: int | None, offset: int = 0
) -> Sequence[BlockSchema]:
    query = (
        sa.select(BlockSchema)
        .where(*conditions)
        .order_by(BlockSchema.created.desc(), BlockSchema.id)
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def secret_fields_of_type(
    session: AsyncSession, workspace_id: uuid.UUID, block_type_id: uuid.UUID
) -> list[str]:
    """Every secret path any schema of the block type declares (each once)."""
    rows = await session.scalars(
        sa.select(BlockSchema.fields).where(
            BlockSchema.workspace_id == workspace_id, BlockSchema.block_type_id == block_type_id
        )
    )
    found: dict[str, None] = {}
    for fields in rows:
        secret = fields.get("secret_fields") if isinstance(fields, dict) else None
        for path in secret if isinstance(secret, list) else []:
            found[str(path)] = None
    return list(found)


async def types_by_id(
    session: AsyncSession, workspace_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, BlockType]:
    if not ids:
        return {}
    rows = await session.scalars(
        sa.select(BlockType).where(BlockType.workspace_id == workspace_id, BlockType.id.in_(ids))
    )
    return {row.id: row for row in rows}


async def delete_block_schema(
    session: AsyncSession, workspace_id: uuid.UUID, block_schema_id: uuid.UUID
) -> None:
    await session.execute(
        sa.delete(BlockSchema).where(
            BlockSchema.workspace_id == workspace_id, BlockSchema.id == block_schema_id
        )
    )


async def documents_of_schema(
    session: AsyncSession, workspace_id: uuid.UUID, block_schema_id: uuid.UUID, limit: int = 5
) -> list[str]:
    rows = await session.scalars(
        sa.select(BlockDocument.name)
        .where(
            BlockDocument.workspace_id == workspace_id,
            BlockDocument.block_schema_id == block_schema_id,
        )
        .order_by(BlockDocument.name)
        .limit(limit)
    )
    return list(rows)


async def capabilities_of_schemas(
    session: AsyncSession, workspace_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(BlockSchema.id, BlockSchema.capabilities).where(
            BlockSchema.workspace_id == workspace_id, BlockSchema.id.in_(ids)
        )
    )
    return {schema_id: list(capabilities or []) for schema_id, capabilities in rows}


async def read_capabilities(session: AsyncSession, workspace_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        sa.select(BlockSchema.capabilities).where(BlockSchema.workspace_id == workspace_id)
    )
    found: set[str] = set()
    for capabilities in rows:
        found.update(str(name) for name in capabilities or [])
    return sorted(found)


def type_model(row: BlockType) -> schemas.BlockType:
    return schemas.BlockType.from_row(row)


def schema_model(row: BlockSchema, block_type: BlockType | None) -> schemas.BlockSchema:
    values: dict[str, Any] = {
        "id": row.id,
        "created": row.created,
        "updated": row.updated,
        "checksum": row.checksum,
        "fields": row.fields,
        "block_type_id": row.block_type_id,
        "block_type": type_model(block_type) if block_type is not None else None,
        "capabilities": row.capabilities or [],
        "version": row.version,
    }
    return schemas.BlockSchema.model_validate(values)
