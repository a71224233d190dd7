"""/block_schemas: the JSON schemas of block types' fields, by id and by checksum."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from flowyard.schemas import blocks as schemas
from flowyard.schemas.filters import Page
from flowyard.server.api.dependencies import WorkspaceContext
from flowyard.server.api.pagination import clamp_limit
from flowyard.server.api.responses import (
    JSONResponse,
    also,
    no_content,
    respond,
    respond_many,
)
from flowyard.server.blocks.registration import block_context
from flowyard.server.blocks.secrets import dropped_secret_fields, secret_fields_of
from flowyard.server.database.orm_blocks import BlockType
from flowyard.server.queries import blocks as queries

router = APIRouter(prefix="/block_schemas", tags=["Block schemas"])

BlockCtx = Annotated[WorkspaceContext, Depends(block_context)]
NOT_FOUND = "Block schema not found."


class BlockSchemaFilterBody(Page):
    block_schemas: schemas.BlockSchemaFilter | None = None


@router.post(
    "/",
    status_code=201,
    response_model=schemas.BlockSchema,
    responses=also(200, schemas.BlockSchema, "An identical schema already existed."),
)
async def create_block_schema(
    block_schema: schemas.BlockSchemaCreate, ctx: BlockCtx
) -> JSONResponse:
    """Create a schema; an identical one (same checksum and version) is answered with 200."""
    async with ctx.db.write() as session:
        block_type = await queries.read_block_type(
            session, ctx.workspace_id, block_schema.block_type_id
        )
        if block_type is None:
            raise HTTPException(
                404, f"block_type_id: block type {block_schema.block_type_id} not found."
            )
        if block_type.is_protected:
            await _keep_secrets_of_protected_type(
                session, ctx.workspace_id, block_type, block_schema
            )
        row, created = await queries.create_block_schema(session, ctx.workspace_id, block_schema)
    return respond(queries.schema_model(row, block_type), 201 if created else 200)


async def _keep_secrets_of_protected_type(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    block_type: BlockType,
    block_schema: schemas.BlockSchemaCreate,
) -> None:
    """Refuse (403) a schema for a built-in type that masks less than its schemas do.

    Without this, a schema for ``secret`` with no ``secret_fields``, put under an existing
    Secret document, would make a plain read show the secret. New schemas for built-in
    types cannot be refused altogether: the official client registers its own version of
    each built-in (``Secret`` at version ``3.9.1``, say) before saving a document."""
    known = await queries.secret_fields_of_type(session, workspace_id, block_type.id)
    dropped = dropped_secret_fields(known, secret_fields_of(block_schema.fields))
    if dropped:
        raise HTTPException(
            403,
            f"fields.secret_fields: a schema of the built-in block type {block_type.slug!r} "
            f"must keep {', '.join(repr(path) for path in dropped)} secret.",
        )


@router.post("/filter", response_model=list[schemas.BlockSchema])
async def read_block_schemas(
    request: Request,
    ctx: BlockCtx,
    body: BlockSchemaFilterBody = Body(default_factory=BlockSchemaFilterBody),
) -> JSONResponse:
    limit = clamp_limit(request, body.limit)
    conditions = queries.block_schema_conditions(
        ctx.workspace_id, body.block_schemas, ctx.db.dialect
    )
    async with ctx.db.read() as session:
        rows = await queries.read_block_schemas(session, conditions, limit, body.offset)
        types = await queries.types_by_id(
            session, ctx.workspace_id, {row.block_type_id for row in rows}
        )
    return respond_many(queries.schema_model(row, types.get(row.block_type_id)) for row in rows)


@router.get("/checksum/{checksum}", response_model=schemas.BlockSchema)
async def read_block_schema_by_checksum(
    checksum: str, ctx: BlockCtx, version: str | None = Query(default=None)
) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_block_schema_by_checksum(
            session, ctx.workspace_id, checksum, version
        )
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        block_type = await queries.read_block_type(session, ctx.workspace_id, row.block_type_id)
    return respond(queries.schema_model(row, block_type))


@router.get("/{id}", response_model=schemas.BlockSchema)
async def read_block_schema(id: uuid.UUID, ctx: BlockCtx) -> JSONResponse:
    async with ctx.db.read() as session:
        row = await queries.read_block_schema(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        block_type = await queries.read_block_type(session, ctx.workspace_id, row.block_type_id)
    return respond(queries.schema_model(row, block_type))


@router.delete("/{id}", status_code=204)
async def delete_block_schema(id: uuid.UUID, ctx: BlockCtx) -> Response:
    async with ctx.db.write() as session:
        row = await queries.read_block_schema(session, ctx.workspace_id, id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        block_type = await queries.read_block_type(session, ctx.workspace_id, row.block_type_id)
        if block_type is not None and block_type.is_protected:
            raise HTTPException(
                403, f"Schemas of the built-in block type {block_type.slug!r} cannot be deleted."
            )
        names = await queries.documents_of_schema(session, ctx.workspace_id, id)
        if names:
            raise HTTPException(
                409,
                f"Block schema {row.checksum} is used by block documents "
                f"{', '.join(repr(name) for name in names)}; delete them first.",
            )
        await queries.delete_block_schema(session, ctx.workspace_id, id)
    return no_content()
