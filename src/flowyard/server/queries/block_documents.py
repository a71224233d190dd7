"""Block documents: rows, references between them, filters, and what depends on one.

Rows hold their data encrypted (see ``server/blocks/encryption.py``); this module moves
tokens, never plaintext. Turning rows into API models (decrypting, resolving references,
masking secrets) is ``server/blocks/documents.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import blocks as schemas
from flowyard.server.database import orm
from flowyard.server.database.orm_blocks import (
    BlockDocument,
    BlockDocumentReference,
    BlockSchema,
    BlockType,
)
from flowyard.server.database.types import utcnow
from flowyard.server.queries.blocks import block_schema_conditions, block_type_conditions
from flowyard.server.queries.filtering import Condition, compile_filter

# Columns of the deployment table that hold a block document id (issue 4, deployments).
DEPLOYMENT_DOCUMENT_COLUMNS = ("storage_document_id", "infrastructure_document_id")
# Columns of the deployment table whose templates may name a block by placeholder.
DEPLOYMENT_TEMPLATE_COLUMNS = ("pull_steps", "job_variables")
# ``{{ prefect.blocks.<type slug>.<document name>[.<field>...] }}``
BLOCK_PLACEHOLDER = re.compile(r"\{\{\s*prefect\.blocks\.([^.\s}]+)\.([^.\s}]+)")


async def insert_block_document(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    name: str,
    token: str,
    is_anonymous: bool,
    block_type_id: uuid.UUID,
    block_schema_id: uuid.UUID,
) -> BlockDocument | None:
    """The new row, or None when the type already has a document of that name."""
    from flowyard.server.queries.upsert import insert_ignore

    new_id = uuid.uuid4()
    values = {
        "id": new_id,
        "workspace_id": workspace_id,
        "name": name,
        "data": token,
        "is_anonymous": is_anonymous,
        "block_type_id": block_type_id,
        "block_schema_id": block_schema_id,
    }
    conflict = ["workspace_id", "block_type_id", "name"]
    await session.execute(insert_ignore(session, BlockDocument, values, conflict))
    row = await read_block_document(session, workspace_id, new_id)
    return row


async def read_block_document(
    session: AsyncSession, workspace_id: uuid.UUID, block_document_id: uuid.UUID
) -> BlockDocument | None:
    return await session.scalar(
        sa.select(BlockDocument).where(
            BlockDocument.workspace_id == workspace_id, BlockDocument.id == block_document_id
        )
    )


async def read_block_document_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, slug: str, name: str
) -> BlockDocument | None:
    return await session.scalar(
        sa.select(BlockDocument)
        .join(BlockType, BlockType.id == BlockDocument.block_type_id)
        .where(
            BlockDocument.workspace_id == workspace_id,
            BlockType.slug == slug,
            BlockDocument.name == name,
        )
    )


async def read_block_documents_by_ids(
    session: AsyncSession, workspace_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, BlockDocument]:
    if not ids:
        return {}
    rows = await session.scalars(
        sa.select(BlockDocument).where(
            BlockDocument.workspace_id == workspace_id, BlockDocument.id.in_(ids)
        )
    )
    return {row.id: row for row in rows}


async def update_block_document(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    block_document_id: uuid.UUID,
    *,
    token: str,
    block_schema_id: uuid.UUID,
) -> None:
    await session.execute(
        sa.update(BlockDocument)
        .where(BlockDocument.workspace_id == workspace_id, BlockDocument.id == block_document_id)
        .values(data=token, block_schema_id=block_schema_id, updated=utcnow())
        .execution_options(synchronize_session=False)
    )


async def delete_block_document(
    session: AsyncSession, workspace_id: uuid.UUID, block_document_id: uuid.UUID
) -> None:
    await session.execute(
        sa.delete(BlockDocumentReference).where(
            BlockDocumentReference.workspace_id == workspace_id,
            BlockDocumentReference.parent_block_document_id == block_document_id,
        )
    )
    await session.execute(
        sa.delete(BlockDocument).where(
            BlockDocument.workspace_id == workspace_id, BlockDocument.id == block_document_id
        )
    )


# --- references --------------------------------------------------------------------------


async def replace_references(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    parent_id: uuid.UUID,
    references: dict[str, uuid.UUID],
) -> None:
    await session.execute(
        sa.delete(BlockDocumentReference).where(
            BlockDocumentReference.workspace_id == workspace_id,
            BlockDocumentReference.parent_block_document_id == parent_id,
        )
    )
    if references:
        await session.execute(
            sa.insert(BlockDocumentReference),
            [
                {
                    "id": uuid.uuid4(),
                    "workspace_id": workspace_id,
                    "name": name,
                    "parent_block_document_id": parent_id,
                    "reference_block_document_id": target,
                }
                for name, target in references.items()
            ],
        )


async def read_references(
    session: AsyncSession, workspace_id: uuid.UUID, parent_ids: set[uuid.UUID]
) -> dict[uuid.UUID, dict[str, uuid.UUID]]:
    """parent id -> {field name: referenced document id}."""
    if not parent_ids:
        return {}
    rows = await session.execute(
        sa.select(
            BlockDocumentReference.parent_block_document_id,
            BlockDocumentReference.name,
            BlockDocumentReference.reference_block_document_id,
        ).where(
            BlockDocumentReference.workspace_id == workspace_id,
            BlockDocumentReference.parent_block_document_id.in_(parent_ids),
        )
    )
    found: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
    for parent, name, target in rows:
        found.setdefault(parent, {})[name] = target
    return found


async def dependents(
    session: AsyncSession, workspace_id: uuid.UUID, block_document_ids: Sequence[uuid.UUID]
) -> list[str]:
    """What uses these documents: deployments (storage or infrastructure) and other block
    documents that nest them, described for a 409 message (a few of each)."""
    ids = list(block_document_ids)
    if not ids:
        return []
    found: list[str] = []
    parents = await session.execute(
        sa.select(BlockType.slug, BlockDocument.name)
        .select_from(BlockDocumentReference)
        .join(BlockDocument, BlockDocument.id == BlockDocumentReference.parent_block_document_id)
        .join(BlockType, BlockType.id == BlockDocument.block_type_id)
        .where(
            BlockDocumentReference.workspace_id == workspace_id,
            BlockDocumentReference.reference_block_document_id.in_(ids),
            BlockDocumentReference.parent_block_document_id.not_in(ids),
        )
        .order_by(BlockDocument.name)
        .limit(5)
    )
    found += [f"block document {slug}/{name}" for slug, name in parents]
    deployment = orm.Base.metadata.tables.get("deployment")
    if deployment is not None:
        columns = [
            deployment.c[name] for name in DEPLOYMENT_DOCUMENT_COLUMNS if name in deployment.c
        ]
        if columns and "workspace_id" in deployment.c and "name" in deployment.c:
            rows = await session.scalars(
                sa.select(deployment.c.name)
                .where(
                    deployment.c.workspace_id == workspace_id,
                    sa.or_(*(column.in_(ids) for column in columns)),
                )
                .order_by(deployment.c.name)
                .limit(5)
            )
            found += [f"deployment {name!r}" for name in rows]
    found += [
        f"deployment {name!r}"
        for name in await _deployments_naming(session, workspace_id, ids)
        if f"deployment {name!r}" not in found
    ]
    return found


async def _deployments_naming(
    session: AsyncSession, workspace_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[str]:
    """Deployments whose pull steps or job variables name one of these documents by a
    ``{{ prefect.blocks.<slug>.<name> }}`` placeholder (a few)."""
    deployment = orm.Base.metadata.tables.get("deployment")
    if deployment is None or "name" not in deployment.c:
        return []
    columns = [deployment.c[name] for name in DEPLOYMENT_TEMPLATE_COLUMNS if name in deployment.c]
    if not columns:
        return []
    addresses = {
        (slug, name)
        for slug, name in await session.execute(
            sa.select(BlockType.slug, BlockDocument.name)
            .join(BlockType, BlockType.id == BlockDocument.block_type_id)
            .where(BlockDocument.workspace_id == workspace_id, BlockDocument.id.in_(ids))
        )
    }
    if not addresses:
        return []
    rows = await session.execute(
        sa.select(deployment.c.name, *columns)
        .where(
            deployment.c.workspace_id == workspace_id,
            sa.or_(*(sa.cast(column, sa.Text).like("%prefect.blocks.%") for column in columns)),
        )
        .order_by(deployment.c.name)
    )
    found: list[str] = []
    for name, *templates in rows:
        named = {
            match.groups()
            for template in templates
            for match in BLOCK_PLACEHOLDER.finditer(json.dumps(template))
        }
        if named & addresses:
            found.append(name)
            if len(found) == 5:
                break
    return found


# --- filters -----------------------------------------------------------------------------

SORTS: dict[schemas.BlockDocumentSort, list[Any]] = {
    schemas.BlockDocumentSort.NAME_ASC: [BlockDocument.name.asc()],
    schemas.BlockDocumentSort.NAME_DESC: [BlockDocument.name.desc()],
    schemas.BlockDocumentSort.BLOCK_TYPE_AND_NAME_ASC: [
        sa.select(BlockType.name)
        .where(BlockType.id == BlockDocument.block_type_id)
        .scalar_subquery()
        .asc(),
        BlockDocument.name.asc(),
    ],
}


def block_document_conditions(
    workspace_id: uuid.UUID,
    document_filter: schemas.BlockDocumentFilter | None,
    type_filter: schemas.BlockTypeFilter | None,
    schema_filter: schemas.BlockSchemaFilter | None,
    dialect: str,
) -> list[Condition]:
    conditions = [BlockDocument.workspace_id == workspace_id]
    # Anonymous documents are left out unless the filter names is_anonymous itself (the
    # contract's default), including when there is no filter at all.
    if document_filter is None or "is_anonymous" not in document_filter.model_fields_set:
        conditions.append(BlockDocument.is_anonymous.is_(False))
    conditions += compile_filter(document_filter, BlockDocument, dialect)
    if type_filter is not None:
        types = sa.select(BlockType.id).where(
            *block_type_conditions(workspace_id, type_filter, None, dialect)
        )
        conditions.append(BlockDocument.block_type_id.in_(types))
    if schema_filter is not None:
        schemas_ = sa.select(BlockSchema.id).where(
            *block_schema_conditions(workspace_id, schema_filter, dialect)
        )
        conditions.append(BlockDocument.block_schema_id.in_(schemas_))
    return conditions


async def read_block_documents(
    session: AsyncSession,
    conditions: Sequence[Condition],
    sort: schemas.BlockDocumentSort,
    limit: int | None,
    offset: int = 0,
) -> Sequence[BlockDocument]:
    query = sa.select(BlockDocument).where(*conditions).order_by(*SORTS[sort], BlockDocument.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def count_block_documents(session: AsyncSession, conditions: Sequence[Condition]) -> int:
    query = sa.select(sa.func.count()).select_from(BlockDocument).where(*conditions)
    return await session.scalar(query) or 0
