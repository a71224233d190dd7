"""Block types: the built-ins every workspace gets, and the types users register.

Built-in types are protected: they cannot be deleted, and an update of one changes nothing
(and succeeds). The official client updates a type whose description differs from its own on
every ``save``; refusing would break ``Secret.save`` from that client, so the update is
answered as done while the stored type stays as it is.

The built-ins are registered in a workspace the first time anything serves blocks in it:
:func:`ensure_builtin_block_types` is called first by every entry point that serves blocks
(the block routers through their dependency). It costs nothing once a workspace is known
to this process.
"""

from __future__ import annotations

import uuid
import weakref

from flowyard.schemas import blocks as schemas
from flowyard.server.blocks.registration import builtins_present, install_builtin_blocks
from flowyard.server.database.engine import Database
from flowyard.server.errors import Conflict, Forbidden, NotFound
from flowyard.server.operations.block_events import emit_block_document_deleted, emit_block_type
from flowyard.server.operations.context import RequestContext, Tx, operation, permission
from flowyard.server.queries import block_documents as document_queries
from flowyard.server.queries import blocks as queries

READ = permission("read", "block")
CREATE = permission("create", "block")
UPDATE = permission("update", "block")
DELETE = permission("delete", "block")
NOT_FOUND = "Block type not found."

# Per database: the workspaces whose built-ins this process has seen in place.
_ready: weakref.WeakKeyDictionary[Database, set[uuid.UUID]] = weakref.WeakKeyDictionary()


async def ensure_builtin_block_types(ctx: RequestContext) -> None:
    """Register the built-in block types in ``ctx``'s workspace unless this process has
    seen them there already. The server does it (``as_system``), not the caller: a reader
    of blocks needs no permission to create types for the built-ins to appear."""
    ready = _ready.setdefault(ctx.db, set())
    if ctx.workspace_id in ready:
        return
    system = ctx.as_system()
    # A read first: once registered, a process start costs no write transaction.
    if not await builtin_block_types_present(system):
        await install_system_block_types(system)
    ready.add(ctx.workspace_id)


@operation(READ)
async def builtin_block_types_present(tx: Tx) -> bool:
    return await builtins_present(tx.session, tx.workspace_id)


@operation(CREATE, writes=True)
async def install_system_block_types(tx: Tx) -> None:
    """Register the built-ins where missing (idempotent); a type created tells of it."""
    for row in await install_builtin_blocks(tx.session, tx.workspace_id):
        emit_block_type(tx, "created", row)


@operation(CREATE, writes=True)
async def create_block_type(tx: Tx, block_type: schemas.BlockTypeCreate) -> schemas.BlockType:
    row = await queries.create_block_type(tx.session, tx.workspace_id, block_type)
    if row is None:
        raise Conflict(
            f"A block type named {block_type.name!r} or slugged {block_type.slug!r} exists."
        )
    emit_block_type(tx, "created", row)
    return queries.type_model(row)


@operation(READ)
async def read_block_types(
    tx: Tx,
    type_filter: schemas.BlockTypeFilter | None,
    schema_filter: schemas.BlockSchemaFilter | None,
    limit: int | None,
    offset: int = 0,
) -> list[schemas.BlockType]:
    conditions = queries.block_type_conditions(
        tx.workspace_id, type_filter, schema_filter, tx.dialect
    )
    rows = await queries.read_block_types(tx.session, conditions, limit, offset)
    return [queries.type_model(row) for row in rows]


@operation(READ)
async def read_block_type(tx: Tx, block_type_id: uuid.UUID) -> schemas.BlockType:
    row = await queries.read_block_type(tx.session, tx.workspace_id, block_type_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    return queries.type_model(row)


@operation(READ)
async def read_block_type_by_slug(tx: Tx, slug: str) -> schemas.BlockType:
    row = await queries.read_block_type_by_slug(tx.session, tx.workspace_id, slug)
    if row is None:
        raise NotFound(f"Block type {slug!r} not found.")
    return queries.type_model(row)


@operation(UPDATE, writes=True)
async def update_block_type(
    tx: Tx, block_type_id: uuid.UUID, update: schemas.BlockTypeUpdate
) -> None:
    row = await queries.read_block_type(tx.session, tx.workspace_id, block_type_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if row.is_protected:
        return  # see the module docstring
    values = update.model_dump(exclude_unset=True)
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    await queries.update_block_type(tx.session, tx.workspace_id, block_type_id, update)
    if changed:
        emit_block_type(tx, "updated", row, changed)


@operation(DELETE, writes=True)
async def delete_block_type(tx: Tx, block_type_id: uuid.UUID) -> None:
    """Delete a user's type with its schemas and documents, unless a document of it is in
    use elsewhere (a deployment, a document of another type). Each document deleted with
    it tells of its deletion too."""
    row = await queries.read_block_type(tx.session, tx.workspace_id, block_type_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if row.is_protected:
        raise Forbidden(f"Block type {row.slug!r} is built in and cannot be deleted.")
    flt = schemas.BlockDocumentFilter.model_validate(
        {"block_type_id": {"any_": [block_type_id]}, "is_anonymous": None}
    )
    conditions = document_queries.block_document_conditions(
        tx.workspace_id, flt, None, None, tx.dialect
    )
    documents = await document_queries.read_block_documents(
        tx.session, conditions, schemas.BlockDocumentSort.NAME_ASC, None
    )
    users = await document_queries.dependents(
        tx.session, tx.workspace_id, [document.id for document in documents]
    )
    if users:
        raise Conflict(
            f"Block type {row.slug!r} has documents in use by {', '.join(users)}; "
            "remove those uses first."
        )
    if documents:
        schema_ids = {document.block_schema_id for document in documents}
        capabilities = await queries.capabilities_of_schemas(
            tx.session, tx.workspace_id, schema_ids
        )
        for document in documents:
            emit_block_document_deleted(
                tx,
                document_id=document.id,
                name=document.name,
                block_type=row,
                block_type_id=row.id,
                block_schema_id=document.block_schema_id,
                capabilities=capabilities.get(document.block_schema_id),
            )
    emit_block_type(tx, "deleted", row)
    await queries.delete_block_type(tx.session, tx.workspace_id, block_type_id)
