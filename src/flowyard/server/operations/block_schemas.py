"""Block schemas (the JSON schemas of block types' fields) and block capabilities.

The contract has no lifecycle events for schemas: a schema is immutable, identified by the
checksum of its fields, and registering the same one twice finds the first.
"""

from __future__ import annotations

import uuid

from flowyard.schemas import blocks as schemas
from flowyard.server.blocks.secrets import dropped_secret_fields, secret_fields_of
from flowyard.server.errors import Conflict, Forbidden, NotFound
from flowyard.server.operations.context import Tx, operation, permission
from flowyard.server.queries import blocks as queries

READ = permission("read", "block")
CREATE = permission("create", "block")
DELETE = permission("delete", "block")
NOT_FOUND = "Block schema not found."


@operation(CREATE, writes=True)
async def create_block_schema(
    tx: Tx, block_schema: schemas.BlockSchemaCreate
) -> tuple[schemas.BlockSchema, bool]:
    """The schema, and whether it is new (an identical one, same checksum and version, is
    found rather than created)."""
    block_type = await queries.read_block_type(
        tx.session, tx.workspace_id, block_schema.block_type_id
    )
    if block_type is None:
        raise NotFound(f"block_type_id: block type {block_schema.block_type_id} not found.")
    if block_type.is_protected:
        # Without this, a schema for ``secret`` with no ``secret_fields``, put under an
        # existing Secret document, would make a plain read show the secret. New schemas for
        # built-in types cannot be refused altogether: the official client registers its
        # own version of each built-in (``Secret`` at version ``3.9.1``, say) before saving.
        known = await queries.secret_fields_of_type(tx.session, tx.workspace_id, block_type.id)
        dropped = dropped_secret_fields(known, secret_fields_of(block_schema.fields))
        if dropped:
            raise Forbidden(
                f"fields.secret_fields: a schema of the built-in block type "
                f"{block_type.slug!r} must keep "
                f"{', '.join(repr(path) for path in dropped)} secret."
            )
    row, created = await queries.create_block_schema(tx.session, tx.workspace_id, block_schema)
    return queries.schema_model(row, block_type), created


@operation(READ)
async def read_block_schemas(
    tx: Tx, schema_filter: schemas.BlockSchemaFilter | None, limit: int | None, offset: int = 0
) -> list[schemas.BlockSchema]:
    conditions = queries.block_schema_conditions(tx.workspace_id, schema_filter, tx.dialect)
    rows = await queries.read_block_schemas(tx.session, conditions, limit, offset)
    types = await queries.types_by_id(
        tx.session, tx.workspace_id, {row.block_type_id for row in rows}
    )
    return [queries.schema_model(row, types.get(row.block_type_id)) for row in rows]


@operation(READ)
async def read_block_schema(tx: Tx, block_schema_id: uuid.UUID) -> schemas.BlockSchema:
    row = await queries.read_block_schema(tx.session, tx.workspace_id, block_schema_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    block_type = await queries.read_block_type(tx.session, tx.workspace_id, row.block_type_id)
    return queries.schema_model(row, block_type)


@operation(READ)
async def read_block_schema_by_checksum(
    tx: Tx, checksum: str, version: str | None = None
) -> schemas.BlockSchema:
    row = await queries.read_block_schema_by_checksum(
        tx.session, tx.workspace_id, checksum, version
    )
    if row is None:
        raise NotFound(NOT_FOUND)
    block_type = await queries.read_block_type(tx.session, tx.workspace_id, row.block_type_id)
    return queries.schema_model(row, block_type)


@operation(DELETE, writes=True)
async def delete_block_schema(tx: Tx, block_schema_id: uuid.UUID) -> None:
    row = await queries.read_block_schema(tx.session, tx.workspace_id, block_schema_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    block_type = await queries.read_block_type(tx.session, tx.workspace_id, row.block_type_id)
    if block_type is not None and block_type.is_protected:
        raise Forbidden(
            f"Schemas of the built-in block type {block_type.slug!r} cannot be deleted."
        )
    names = await queries.documents_of_schema(tx.session, tx.workspace_id, block_schema_id)
    if names:
        raise Conflict(
            f"Block schema {row.checksum} is used by block documents "
            f"{', '.join(repr(name) for name in names)}; delete them first."
        )
    await queries.delete_block_schema(tx.session, tx.workspace_id, block_schema_id)


@operation(READ)
async def read_block_capabilities(tx: Tx) -> list[str]:
    """Every capability that some block schema of the workspace declares."""
    return await queries.read_capabilities(tx.session, tx.workspace_id)
