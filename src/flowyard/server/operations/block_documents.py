"""Block documents: saved blocks, their data encrypted at rest.

Every operation that reads or writes data takes the server's ``settings``: the encryption
key comes from them (``FLOWYARD_SERVER_ENCRYPTION_KEY`` or the key file under the server's
home), never from the database. Secret values are answered as ``********`` unless
``include_secrets`` is asked for and the caller holds :data:`READ_SECRETS`.
"""

from __future__ import annotations

import uuid

from flowyard.exceptions import ConfigurationError
from flowyard.schemas import blocks as schemas
from flowyard.server.blocks.documents import Documents
from flowyard.server.blocks.encryption import cipher_for
from flowyard.server.database.orm_blocks import BlockDocument
from flowyard.server.errors import Conflict, Misconfigured, NotFound
from flowyard.server.operations.block_events import (
    emit_block_document,
    emit_block_document_deleted,
)
from flowyard.server.operations.context import Tx, authorize, operation, permission
from flowyard.server.queries import block_documents as queries
from flowyard.server.queries import blocks as type_queries
from flowyard.settings import Settings

READ = permission("read", "block")
CREATE = permission("create", "block")
UPDATE = permission("update", "block")
DELETE = permission("delete", "block")
# Reading secret values in clear: a permission of its own, which the cloud layer's roles
# grant apart from reading blocks (single-user mode allows everything).
READ_SECRETS = permission("read", "block_secret")
NOT_FOUND = "Block document not found."


def _documents(tx: Tx, settings: Settings) -> Documents:
    try:
        cipher = cipher_for(settings)
    except ConfigurationError as exc:  # a bad FLOWYARD_SERVER_ENCRYPTION_KEY, say
        raise Misconfigured(str(exc)) from None
    return Documents(tx.session, tx.workspace_id, cipher)


def _secrets_allowed(tx: Tx, include_secrets: bool, name: str) -> None:
    if include_secrets:
        authorize(tx.ctx, READ_SECRETS, name)


@operation(CREATE, writes=True)
async def create_block_document(
    tx: Tx, settings: Settings, block_document: schemas.BlockDocumentCreate
) -> schemas.BlockDocument:
    documents = _documents(tx, settings)
    row = await documents.create(block_document)
    (model,) = await documents.models([row], include_secrets=False)
    emit_block_document(tx, "created", model)
    return model


@operation(READ)
async def read_block_documents(
    tx: Tx,
    settings: Settings,
    document_filter: schemas.BlockDocumentFilter | None,
    type_filter: schemas.BlockTypeFilter | None,
    schema_filter: schemas.BlockSchemaFilter | None,
    *,
    include_secrets: bool = False,
    sort: schemas.BlockDocumentSort = schemas.BlockDocumentSort.NAME_ASC,
    limit: int | None = None,
    offset: int = 0,
) -> list[schemas.BlockDocument]:
    _secrets_allowed(tx, include_secrets, "block_documents.read_block_documents")
    conditions = queries.block_document_conditions(
        tx.workspace_id, document_filter, type_filter, schema_filter, tx.dialect
    )
    rows = await queries.read_block_documents(tx.session, conditions, sort, limit, offset)
    return await _documents(tx, settings).models(list(rows), include_secrets)


@operation(READ)
async def count_block_documents(
    tx: Tx,
    document_filter: schemas.BlockDocumentFilter | None,
    type_filter: schemas.BlockTypeFilter | None,
    schema_filter: schemas.BlockSchemaFilter | None,
) -> int:
    conditions = queries.block_document_conditions(
        tx.workspace_id, document_filter, type_filter, schema_filter, tx.dialect
    )
    return await queries.count_block_documents(tx.session, conditions)


@operation(READ)
async def read_block_document(
    tx: Tx, settings: Settings, block_document_id: uuid.UUID, include_secrets: bool = False
) -> schemas.BlockDocument:
    _secrets_allowed(tx, include_secrets, "block_documents.read_block_document")
    row = await _row(tx, block_document_id)
    (model,) = await _documents(tx, settings).models([row], include_secrets)
    return model


@operation(READ)
async def read_block_documents_of_type(
    tx: Tx, settings: Settings, slug: str, include_secrets: bool = False
) -> list[schemas.BlockDocument]:
    """``GET /block_types/slug/{slug}/block_documents``: the type's named documents."""
    _secrets_allowed(tx, include_secrets, "block_documents.read_block_documents_of_type")
    block_type = await type_queries.read_block_type_by_slug(tx.session, tx.workspace_id, slug)
    if block_type is None:
        raise NotFound(f"Block type {slug!r} not found.")
    flt = schemas.BlockDocumentFilter.model_validate({"block_type_id": {"any_": [block_type.id]}})
    conditions = queries.block_document_conditions(tx.workspace_id, flt, None, None, tx.dialect)
    rows = await queries.read_block_documents(
        tx.session, conditions, schemas.BlockDocumentSort.NAME_ASC, None
    )
    return await _documents(tx, settings).models(list(rows), include_secrets)


@operation(READ)
async def read_block_document_by_name(
    tx: Tx, settings: Settings, slug: str, name: str, include_secrets: bool = False
) -> schemas.BlockDocument:
    _secrets_allowed(tx, include_secrets, "block_documents.read_block_document_by_name")
    row = await queries.read_block_document_by_name(tx.session, tx.workspace_id, slug, name)
    if row is None:
        if await type_queries.read_block_type_by_slug(tx.session, tx.workspace_id, slug) is None:
            raise NotFound(f"Block type {slug!r} not found.")
        raise NotFound(f"Block document {slug}/{name} not found.")
    (model,) = await _documents(tx, settings).models([row], include_secrets)
    return model


@operation(UPDATE, writes=True)
async def update_block_document(
    tx: Tx, settings: Settings, block_document_id: uuid.UUID, update: schemas.BlockDocumentUpdate
) -> None:
    row = await _row(tx, block_document_id)
    documents = _documents(tx, settings)
    await documents.update(row, update)
    await tx.session.refresh(row)  # the update went around the ORM: read the new values
    (model,) = await documents.models([row], include_secrets=False)
    changed = ["data"] + (["block_schema_id"] if update.block_schema_id is not None else [])
    emit_block_document(tx, "updated", model, changed)


@operation(DELETE, writes=True)
async def delete_block_document(tx: Tx, block_document_id: uuid.UUID) -> None:
    row = await _row(tx, block_document_id)
    users = await queries.dependents(tx.session, tx.workspace_id, [row.id])
    if users:
        raise Conflict(
            f"Block document {row.name!r} is used by {', '.join(users)}; remove those uses first."
        )
    block_type = await type_queries.read_block_type(tx.session, tx.workspace_id, row.block_type_id)
    capabilities = await type_queries.capabilities_of_schemas(
        tx.session, tx.workspace_id, {row.block_schema_id}
    )
    emit_block_document_deleted(
        tx,
        document_id=row.id,
        name=row.name,
        block_type=block_type,
        block_type_id=row.block_type_id,
        block_schema_id=row.block_schema_id,
        capabilities=capabilities.get(row.block_schema_id),
    )
    await queries.delete_block_document(tx.session, tx.workspace_id, row.id)


async def _row(tx: Tx, block_document_id: uuid.UUID) -> BlockDocument:
    row = await queries.read_block_document(tx.session, tx.workspace_id, block_document_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return row
